"""The foundation's acceptance figures, as a new user would get them on this machine:

1. From scratch on a real held-out 10-class set of small images (scikit-learn digits at 48 px,
   70/15/15 split, about 1,250 training images, class folders): test accuracy after 10 epochs, and time.
2. A real-photo x,y regression set (scikit-image photos with a drawn ball, 160x120): test RMSE in pixels.

    .venv/bin/python benchmarks/train_acceptance.py       # writes results/train_acceptance-<device>.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._common import save_result  # noqa: E402


def timed_train(**kw):
    import edgecv

    t0 = time.perf_counter()
    run = edgecv.train(progress=False, tensorboard=False, pretrained="none", log=lambda *a: None, **kw)
    return run, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-regress", action="store_true")
    args = ap.parse_args()
    import edgecv
    from edgecv.data.synth import synth

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        digits = synth(tmp / "digits", kind="digits")
        run, secs = timed_train(data=str(digits), imgsz=48, epochs=10, split="0.7,0.15,0.15",   # defaults otherwise
                                out=str(tmp / "digits_run"))
        ev = edgecv.evaluate(run / "best.pt", digits, plots="none", log=lambda *a: None)
        out["digits"] = {"train_s": secs, "test_accuracy": ev["metrics"]["accuracy"], "n_test": ev["n"],
                         "targets": {"accuracy": 0.97, "train_s": 300}}
        print(f"digits 48px from scratch: test accuracy {ev['metrics']['accuracy']:.2%} (n={ev['n']}) "
              f"in {secs:.0f} s for 10 epochs")
        if not args.skip_regress:
            ball = synth(tmp / "ball", "regress", n=600, size=(160, 120))
            run, secs = timed_train(data=str(ball), task="regress", imgsz=128, epochs=15,
                                    out=str(tmp / "ball_run"))
            ev = edgecv.evaluate(run / "best.pt", ball, plots="none", log=lambda *a: None)
            out["ball"] = {"train_s": secs, "test_rmse_px": ev["metrics"]["rmse_px"], "test_mae_px": ev["metrics"]["mae_px"],
                           "n_test": ev["n"], "image": [160, 120]}
            print(f"ball x,y 160x120 regression: test RMSE {ev['metrics']['rmse_px']:.2f} px, "
                  f"MAE {ev['metrics']['mae_px']:.2f} px (n={ev['n']}) in {secs:.0f} s")
    print(f"wrote {save_result('train_acceptance', out)}")


if __name__ == "__main__":
    main()
