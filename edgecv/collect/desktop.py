"""`edgecv collect`: a dataset from a camera in a desktop window: a key per class, or a click on the point.

    edgecv collect --source csi://0 --task classify --classes thumbs_up,thumbs_down --out data/thumbs
    edgecv collect --source /dev/video0 --task regress --out data/xy        # click the nose

classify: keys 1..9 (or a class's first letter) save the frame into OUT/<class>/.
regress:  a left click saves the frame into OUT/images/ and `image,x,y` into OUT/labels.csv.
u undoes the last save, q or Esc quits. Counts show on the frame and in the terminal.
Without a display (a headless Jetson over ssh) use `edgecv serve`, the same in a browser.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from ..config import option

RESERVED = {"u": "undo", "q": "quit"}
WINDOW = "edgecv collect"


@dataclass
class CollectConfig:
    source: str = option("", "csi://0, /dev/video0, rtsp://..., a video file (looped)", short="-s", required=True,
                         metavar="URI")
    task: str = option("classify", "classify: a key per class; regress: click the point",
                       choices=("classify", "regress"))
    classes: Optional[str] = option(None, "class names a,b,c (classify; keys 1..9 in this order)", metavar="NAMES")
    out: str = option("", "dataset folder (created if missing)", short="-o", required=True, metavar="DIR")


def key_map(classes: Sequence[str]) -> Dict[str, str]:
    """Key -> class: '1'..'9', '0' for the first ten, each first letter that is unique and not u/q,
    then a spare letter for every class after the tenth that has none (34 classes at most)."""
    from ..errors import EdgecvError

    keys = dict(zip("1234567890", classes))
    firsts = [c[0].lower() for c in classes]
    for c in classes:
        k = c[0].lower()
        if firsts.count(k) == 1 and k not in RESERVED and not k.isdigit():
            keys[k] = c
    spare = (ch for ch in "abcdefghijklmnoprstvwxyz" if ch not in keys)
    for c in [c for c in classes[10:] if c not in keys.values()]:
        k = next(spare, None)
        if k is None:
            raise EdgecvError(f"--classes: {len(classes)} classes, more than the keyboard's 34 keys; collect them in "
                              "groups of up to 34 (into the same --out), or use `edgecv serve`")
        keys[k] = c
    return keys


def action(key: int, keys: Dict[str, str]) -> Optional[str]:
    """cv2.waitKey code -> 'quit', 'undo', 'class:<name>' or None."""
    if key in (-1, 255):
        return None
    if key == 27:
        return "quit"
    ch = chr(key & 0xFF).lower()
    if ch in keys:
        return f"class:{keys[ch]}"
    return RESERVED.get(ch)


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def open_window():
    """A preview window, or the one-line error that points at `edgecv serve`."""
    import cv2

    from ..errors import EdgecvError

    hint = ("use `edgecv serve --source URI --out DIR --task ...` and collect from a browser "
            "(http://127.0.0.1:8080, or ssh -L 8080:127.0.0.1:8080)")
    if not has_display():
        raise EdgecvError(f"no display here (DISPLAY is not set); {hint}")
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE)
    except cv2.error:
        raise EdgecvError(f"this OpenCV has no GUI (opencv-python-headless); pip install opencv-python, or {hint}")


def draw(frame, collector, keys: Dict[str, str]):
    """Counts and key hints on a copy of the frame (the saved frame stays clean)."""
    import cv2

    img = frame.copy()
    if collector.task == "classify":
        by_class = {}
        for k, c in keys.items():       # digits first, then letters: the first key of each class
            by_class.setdefault(c, k)
        lines = [f"{by_class.get(c, '-')}: {c}  {n}" for c, n in collector.counts().items()]
    else:
        lines = [f"points {collector.counts()['points']}  (click the point)"]
    lines.append("u undo   q quit")
    y = 22
    for t in lines:
        cv2.putText(img, t, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(img, t, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 255, 255), 1, cv2.LINE_AA)
        y += 22
    return img


def collect(args: CollectConfig) -> int:
    """Python API of `edgecv collect`: the desktop window until q/Esc (or the window closes)."""
    from .collector import Collector

    import cv2

    open_window()       # before the folder exists: no display leaves no empty dataset behind
    try:
        collector = Collector(args.out, args.task, args.classes).lock()   # one collector per folder
    except BaseException:
        cv2.destroyAllWindows()
        raise
    try:
        return _collect(args, collector)
    finally:
        collector.close()


def _collect(args, collector) -> int:
    import cv2

    from .live import LiveView

    keys = key_map(collector.classes)
    live = LiveView(args.source, log=lambda m: print(f"edgecv collect: {m}", file=sys.stderr)).start()
    clicks = []
    if args.task == "regress":
        cv2.setMouseCallback(WINDOW, lambda ev, x, y, *_: clicks.append((x, y)) if ev == cv2.EVENT_LBUTTONDOWN else None)
    print(f"edgecv collect: {args.source} -> {args.out}; "
          + ("keys " + " ".join(f"{k}={c}" for k, c in keys.items()) if args.task == "classify" else "click the point")
          + "; u undo, q quit", file=sys.stderr)
    try:
        _loop(live, collector, keys, clicks)
    finally:
        live.close()
        cv2.destroyAllWindows()
    print(f"edgecv collect: {args.out}: {collector.summary()}", file=sys.stderr)
    return 0


def _loop(live, collector, keys, clicks):
    import cv2

    seen, frame = 0, None
    while True:
        seen, new = live.wait_frame(seen, timeout=0.05)
        frame = new if new is not None else frame
        if frame is not None:
            cv2.imshow(WINDOW, draw(frame, collector, keys))
        act = action(cv2.waitKey(1), keys)
        what = None
        if act == "quit" or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
            return
        if act == "undo":
            gone = collector.undo()
            what = f"undone {gone.name}" if gone else "nothing to undo"
        elif act and frame is not None:
            what = f"saved {collector.save_class(frame, act.split(':', 1)[1]).name}"
        while clicks and frame is not None:
            x, y = clicks.pop(0)
            what = f"saved {collector.save_point(frame, x, y).name} at ({x}, {y})"
        if what:
            print(f"edgecv collect: {what} | {collector.summary()}", file=sys.stderr)
