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
    """One horizontal bar per timed format: p50 latency at the first batch size, labelled with its
    accuracy (or RMSE) and size; the fastest at equal accuracy is highlighted. Bars never overlap,
    however close two formats' numbers are."""
    from ..plots import pyplot, save_figure

    plt = pyplot()
    if plt is None:
        return None
    b = result["batches"][0]
    rows = sorted((r for r in result["results"] if str(b) in r.get("batches", {})),
                  key=lambda r: -r["batches"][str(b)]["latency_ms"]["p50"])
    if not rows:
        return None
    regress = result["task"] == "regress"
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.45 * len(rows)))
    lat = [r["batches"][str(b)]["latency_ms"]["p50"] for r in rows]
    colors = ["#2a9d8f" if b in (r.get("fastest") or []) else "#8ab6d6" for r in rows]
    ax.barh(range(len(rows)), lat, color=colors)
    ax.set_yticks(range(len(rows)), [r["format"] for r in rows])
    for i, (r, v) in enumerate(zip(rows, lat)):
        m = r.get("metrics") or {}
        score = (f"RMSE {m['rmse_px']:.2f} px" if regress and "rmse_px" in m else
                 f"acc {m['accuracy']:.2%}" if "accuracy" in m else "no accuracy")
        size = f", {r['size_mb']:.1f} MB" if r.get("size_mb") else ""
        ax.text(v, i, f"  {v:.2f} ms  ({score}{size})", va="center", fontsize=9)
    ax.set_xlim(0, max(lat) * 1.7)
    ax.set_xlabel(f"latency p50 per call, ms (batch {b}; shorter is faster)")
    dev = str(result["system"].get("device", ""))[:70]
    ax.set_title(f"edgecv bench on {dev}" + ("\n(green: fastest at equal accuracy)" if any(
        b in (r.get("fastest") or []) for r in rows) else ""), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def output_paths(json_path, md_path, png, out_dir: Path) -> dict:
    """{flag: path} of --json, --md and --chart as written (defaults in the bench folder)."""
    return {"--json": Path(json_path) if json_path else out_dir / "bench.json",
            "--md": Path(md_path) if md_path else out_dir / "bench.md",
            "--chart": Path(png) if png else out_dir / "bench.png"}


def write_outputs(result: dict, json_path, md_path, png, out_dir: Path):
    """JSON, Markdown and chart; defaults land in the bench folder."""
    json_path, md_path, png = output_paths(json_path, md_path, png, out_dir).values()
    write_json(json_path, result)
    write_text(md_path, markdown(result))
    chart(result, png)
    result["outputs"] = {"json": str(json_path), "markdown": str(md_path), "chart": str(png)}
