"""Make docs/serve.png: the page after collect -> fine-tune -> live, in headless Chromium.

Run once by hand (about a minute on 2 CPU cores; needs chromium + chromium-driver and torch):

    .venv/bin/python tests/collect/make_docs_screenshot.py [docs/serve.png]

It collects 10 frames per colour with the Collector, starts the server the way `edgecv serve`
does, presses "Start fine-tune" in the page and screenshots it once the live view runs the new
model (overlay, class buttons with counts, fps/latency line, training curve).
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import conftest  # noqa: E402  (this folder's fixtures module: scene(), serve_args())

PHASES = {"red": 0, "green": 90, "blue": 180}   # 3 s of each background colour   # first frame of each background colour in the clip


def make_clip(path: Path, w=640, h=480):
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    for i in range(270):
        vw.write(conftest.scene(i, w, h, period=90))
    vw.release()


def collect(out: Path):
    from edgecv.collect.collector import Collector

    c = Collector(out, "classify", list(PHASES))
    for cls, first in PHASES.items():
        for i in range(10):
            c.save_class(conftest.scene(first + 9 * i, 640, 480, period=90), cls)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,960", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='edgecv-chrome-')}"):
        opts.add_argument(flag)
    opts.page_load_strategy = "eager"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def main(dest: str = str(HERE.parents[1] / "docs" / "serve.png")) -> int:
    from edgecv.collect.app import Server
    from edgecv.commands.serve import build, config

    dest = str(Path(dest).resolve())
    os.chdir(tempfile.mkdtemp(prefix="edgecv-shot-"))    # short relative paths on the page
    make_clip(Path("camera.avi"))
    collect(Path("data"))
    args = conftest.serve_args("camera.avi", out="data", classes="red,green,blue", runs="runs",
                               threads=1)     # a shared 2-core CI box: one inference thread is faster
    cfg = config(args)
    state = build(cfg)
    srv = Server(state, cfg.host, cfg.port)
    state.live.start()
    srv.start()
    d = browser()
    try:
        d.get(srv.url + "/")
        time.sleep(2)
        for key, value in (("epochs", "10"), ("imgsz", "32")):
            box = d.find_element("id", key)
            box.clear()
            box.send_keys(value)
        d.find_element("css selector", "#pretrained option[value=none], #pretrained option:nth-child(2)").click()
        d.find_element("id", "start").click()
        t_end = time.time() + 300
        while state.job.state in ("idle", "running") and time.time() < t_end:
            time.sleep(1)
        time.sleep(6)                     # steady inference timings; the page polls once a second
        print(state.job.status()["state"], state.job.status()["history"][-1:], file=sys.stderr)
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(dest)
        print(f"wrote {dest}", file=sys.stderr)
    finally:
        d.quit()
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
