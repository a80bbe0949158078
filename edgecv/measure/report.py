"""One self-contained HTML report per run folder, viewable without TensorBoard.

Training curves, the confusion matrix, the evaluation metrics, the INT8 calibration table, the
live-run report and the benchmark table with its chart, all read from files the run already has:
    python -c "from edgecv.measure.report import write_report; write_report('runs/exp')"
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from ..fileio import write_text


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"><figcaption>{alt}</figcaption></figure>'


def _load(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _table(rows, cls: str = "") -> str:
    """rows[0] is the header (None: no header row); the first cell of a row names it (left-aligned)."""
    if not rows:
        return ""
    head = "" if rows[0] is None else "<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in rows[0]) + "</tr></thead>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows[1:])
    return f"<table{f' class={cls}' if cls else ''}>{head}<tbody>{body}</tbody></table>"


def _metrics_rows(ev: dict):
    m = ev["metrics"]
    rows = [["metric", "value"]] + [[k, f"{v:.4f}"] for k, v in m.items() if isinstance(v, float)]
    for name, v in (m.get("per_class") or {}).items():
        rows.append([f"{name} precision / recall", f"{v['precision']:.3f} / {v['recall']:.3f} (n={v['support']})"])
    for name, v in (m.get("per_target") or {}).items():
        rows.append([f"{name} rmse / mae", f"{v['rmse']:.3f} / {v['mae']:.3f}"])
    rows.append(["latency p50 / p95 (ms)", f"{ev['latency_ms']['p50']:.2f} / {ev['latency_ms']['p95']:.2f}"])
    return rows


def _fmt(metrics) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in (metrics or {}).items()) or "-"


def _int8_rows(q: dict):
    rows = [["calibration method", "validation"]]
    rows += [[r["method"], _fmt(r.get("metrics"))] for r in q.get("table", [])]
    rows.append(["FP32 reference", _fmt(q.get("fp32"))])
    rows.append([f"kept: {q.get('method')}", _fmt(q.get("int8"))])
    return rows


def _runtime_rows(r: dict):
    lat = r.get("latency_ms", {})
    rows = [["live run", "value"], ["model", f"{Path(str(r.get('model', '?'))).name} ({r.get('backend', '?')})"],
            ["source", r.get("source", "?")], ["frames", r.get("frames")],
            ["fps", f"{r.get('fps', 0):.1f}"], ["dropped", r.get("dropped")]]
    rows += [[f"{k} p50/p95 ms", f"{v['p50']:.2f} / {v['p95']:.2f}"] for k, v in lat.items()
             if isinstance(v, dict) and v.get("p50") is not None]
    rows += [[k, f"{r[k]:.4f}"] for k in ("accuracy", "rmse_px") if r.get(k) is not None]
    return rows


def _about(run: Path) -> str:
    """Date, data, model and the resolved training config: what a reader needs to trust the numbers."""
    import datetime

    import yaml

    cfg = yaml.safe_load(run.joinpath("config.yaml").read_text()) if run.joinpath("config.yaml").is_file() else {}
    cfg = cfg if isinstance(cfg, dict) else {}
    rows = [None, ["written", datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")],
            ["run folder", str(run.resolve())], ["data", cfg.get("data", "?")],
            ["model", f"{cfg.get('model', '?')} {cfg.get('task', '')}, input {cfg.get('imgsz', '?')} px, "
                      f"pretrained {cfg.get('pretrained', '?')}"]]
    flat = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    aug = cfg.get("augment") if isinstance(cfg.get("augment"), dict) else {}
    rows.append(["training config", ", ".join(f"{k}={v}" for k, v in flat.items() if k not in ("data", "out"))])
    if aug:
        rows.append(["augmentation", ", ".join(f"{k}={v}" for k, v in aug.items())])
    return _table(rows, "about")


def write_report(run_dir, title: str = "") -> Path:
    """run_dir/report.html from whatever the run folder holds; returns its path."""
    from .output import fastest_note, table_rows

    run = Path(run_dir)
    ev, q, rt = _load(run / "eval_test.json"), _load(run / "int8.json"), _load(run / "runtime.json")
    bench = _load(run / "bench" / "bench.json")
    parts = [f"<h1>{html.escape(title or 'edgecv report: ' + str(run))}</h1>", _about(run),
             "<h2>Training</h2>", _img(run / "curves.png", "training curves")]
    if ev:
        parts += [f"<h2>Evaluation ({ev['split']} split, {ev['n']} images, {ev['backend']})</h2>",
                  _table(_metrics_rows(ev)), _img(run / f"confusion_{ev['split']}.png", "confusion matrix")]
    forms = {"onnx-int8": q} if q and "table" in q else (q or {})     # one form (older runs) or both
    for fmt, table in forms.items():
        parts += [f"<h2>INT8 calibration: {html.escape(fmt)}</h2>", _table(_int8_rows(table))]
    if rt:
        parts += ["<h2>Camera runtime</h2>", _table(_runtime_rows(rt))]
    if bench:
        parts += [f"<h2>Benchmark on {html.escape(str(bench['system'].get('device', '')))}</h2>",
                  f"<p>{bench.get('n_images', '?')} {html.escape(str(bench.get('split', '')))} images, "
                  f"{bench.get('iters', '?')} timed iterations after {bench.get('warmup', '?')} warm-up; latencies "
                  "are per call (b1 = batch 1), medians and tails in ms.</p>",
                  _table(table_rows(bench), "wide"), f"<p>{html.escape(fastest_note(bench).strip())}</p>",
                  _img(run / "bench" / "bench.png", "latency vs accuracy")]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px;"
             "text-align:right;font-variant-numeric:tabular-nums}th{background:#f0f0f0}"
             "td:first-child,th:first-child{text-align:left;font-weight:bold}tbody tr:nth-child(even){background:#fafafa}"
             ".about td{text-align:left}.about td+td{font-weight:normal;font-family:monospace;font-size:13px}"
             ".wide{display:block;overflow-x:auto}img{max-width:100%}figure{display:inline-block;margin:0 1em 1em 0}"
             "figcaption{color:#666;font-size:13px}h2{margin-top:1.6em;border-bottom:1px solid #ddd}")
    out = run / "report.html"
    write_text(out, f"<!doctype html><html><head><meta charset='utf-8'><title>edgecv report</title>"
                    f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    return out
