"""Bench outputs: terminal table, Markdown, JSON and a latency-vs-accuracy PNG."""
from __future__ import annotations

from pathlib import Path
from typing import List

from ..fileio import write_json, write_text


def _metric(row) -> str:
    m = row.get("metrics") or {}
    if "accuracy" in m:
        return f"{m['accuracy'] * 100:.2f}%"
    if "rmse_px" in m:
        return f"{m['rmse_px']:.2f} px"
    return "-"


def table_rows(result: dict) -> List[List[str]]:
    batches = result["batches"]
    head = ["format", "size MB", "accuracy" if result["task"] != "regress" else "rmse"]
    for b in batches:
        head += [f"p50 ms b{b}", f"p95 b{b}", f"p99 b{b}", f"img/s b{b}", f"vs pt b{b}"]
    rows = [head + ["status"]]
    for r in result["results"]:
        line = [r["format"], f"{r['size_mb']:.1f}" if r["size_mb"] else "-", _metric(r)]
        for b in batches:
            s = r["batches"].get(str(b))
            if s:
                lat = s["latency_ms"]
                star = "*" if b in r.get("fastest", ()) else ""
                line += [f"{lat['p50']:.2f}{star}", f"{lat['p95']:.2f}", f"{lat['p99']:.2f}", f"{s['throughput']:.0f}",
                         f"{r['speedup_vs_pt'].get(str(b), 0):.2f}x" if r.get("speedup_vs_pt") else "-"]
            else:
                line += ["-"] * 5
        rows.append(line + [r["status"]])
    return rows


def print_table(result: dict, log=print):
    rows = table_rows(result)
    widths = [max(len(r[i]) for r in rows[:]) for i in range(len(rows[0]) - 1)]
    sysrec = result["system"]
    log(f"\n{result['model']} on {sysrec.get('device') or sysrec.get('cpu', {}).get('model', '?')}: "
        f"{result['n_images']} {result['split']} images, {result['iters']} timed iterations after "
        f"{result['warmup']} warm-up, medians")
    for r in rows:
        log("  " + "  ".join(v.rjust(w) for v, w in zip(r, widths)) + "  " + r[-1])
    log(fastest_note(result))


def fastest_note(result: dict) -> str:
    """The footnote of the * in the p50 columns: which format wins at each batch size, and the rule."""
    fast = result.get("fastest") or {}
    wins = ", ".join(f"b{b}: {f}" for b, f in (fast.get("by_batch") or {}).items())
    return f"  * fastest at equal accuracy ({fast.get('rule', '-')}): {wins or 'none'}"


def markdown(result: dict) -> str:
    rows = table_rows(result)
    sysrec = result["system"]
    out = [f"# edgecv bench: {result['model']}", "",
           f"Device: {sysrec.get('device', '?')}. {result['n_images']} {result['split']} images; "
           f"{result['iters']} iterations after {result['warmup']} warm-up; p50/p95/p99 per call.", "",
           "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    out += ["", fastest_note(result).strip()]
    return "\n".join(out) + "\n"


def chart(result: dict, path: Path):
    """Latency (batch of the first size) against accuracy or RMSE, one labelled point per format."""
    from ..plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    pts = [(r["format"], r["latency_ms"]["p50"], (r["metrics"] or {}).get("accuracy", (r["metrics"] or {}).get("rmse_px")))
           for r in result["results"] if r.get("latency_ms")]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, lat, metric in pts:
        y = (metric * 100 if result["task"] != "regress" else metric) if metric is not None else 0
        ax.scatter([lat], [y], s=60)
        ax.annotate(name, (lat, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel(f"latency p50 (ms, batch {result['batches'][0]})")
    ax.set_ylabel("accuracy (%)" if result["task"] != "regress" else "RMSE (px, lower is better)")
    ax.set_title(("edgecv bench: " + str(result["system"].get("device", "")))[:80])
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def write_outputs(result: dict, json_path, md_path, png, out_dir: Path):
    """JSON, Markdown and chart; defaults land in the bench folder."""
    json_path = Path(json_path) if json_path else out_dir / "bench.json"
    md_path = Path(md_path) if md_path else out_dir / "bench.md"
    png = Path(png) if png else out_dir / "bench.png"
    write_json(json_path, result)
    write_text(md_path, markdown(result))
    chart(result, png)
    result["outputs"] = {"json": str(json_path), "markdown": str(md_path), "chart": str(png)}
