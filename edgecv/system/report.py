"""What this machine can run, on one screen (GPU, CUDA, TensorRT, ONNX Runtime,
OpenCV, cameras, Jetson power mode) and what to do about what is missing.

Run it first on a new Jetson or workstation, and attach `--json` output to bug reports; the
benchmarks record the same dict (edgecv.system.probes.system_record) next to every number.

    edgecv info
    edgecv info --json info.json      # the screen, plus the full record as JSON
    edgecv info --json - | jq .advice  # JSON only, on stdout
"""
from __future__ import annotations


def info(probe_torch: bool = True) -> dict:
    """The system record (see edgecv.system.probes.system_record), probed afresh."""
    from .probes import system_record

    return system_record(probe_torch=probe_torch, refresh=True)


def _yn(flag) -> str:
    return {True: "yes", False: "no"}.get(flag, "?")


def format_report(rec: dict) -> str:
    """The record as aligned 'Label  value' lines, then the advice list."""
    rows = _host_rows(rec) + _gpu_rows(rec) + _library_rows(rec) + _device_rows(rec)
    width = max(len(k) for k, _ in rows) + 2
    lines = [f"edgecv {rec.get('edgecv')} on {rec.get('hostname')}: {rec.get('device')}", ""]
    lines += [f"{k:<{width}}{v}" for k, v in rows]
    advice = rec.get("advice") or []
    lines += ["", "Advice:" if advice else "Advice: none, everything edgecv uses was found"]
    lines += [f"  - {a}" for a in advice]
    return "\n".join(lines)


def _host_rows(rec: dict) -> list:
    o, py, cpu, mem = (rec.get(k) or {} for k in ("os", "python", "cpu", "memory"))
    system = f"{o.get('distro') or o.get('system')}, kernel {o.get('release')} {o.get('machine')}"
    return [("System", system + (" (in a container)" if o.get("in_container") else "")),
            ("Python", f"{py.get('version')} ({py.get('executable')})"),
            ("CPU", f"{cpu.get('model') or '?'}, {cpu.get('cores')} cores ({cpu.get('usable_cores')} usable)"
                    + (f"; {' '.join(cpu['isa'])}" if cpu.get("isa") else "")),
            ("Memory", f"{mem.get('total_gib')} GiB total, {mem.get('available_gib')} GiB available, "
                       f"swap {mem.get('swap_gib')} GiB")]


def _gpu_rows(rec: dict) -> list:
    rows = []
    for i, g in enumerate(rec.get("gpus") or []):
        mem = f", {g['memory_mib']} MiB" if g.get("memory_mib") else ""
        cc = g.get("compute_capability") or "?"
        rows.append((f"GPU {i}", f"{g.get('name')}{mem}, compute {cc} ({g.get('arch') or '?'}): "
                                 f"FP16 {_yn(g.get('fast_fp16'))}, INT8 {_yn(g.get('int8'))}"))
    if not rows:
        rows.append(("GPU", "none found (no nvidia-smi GPU, no /proc/driver/nvidia, not a Jetson)"))
    cuda = rec.get("cuda") or {}
    rows.append(("Driver", rec.get("driver") or "-"))
    rows.append(("CUDA", f"toolkit {cuda.get('toolkit') or '-'}, driver supports {cuda.get('driver') or '-'}"))
    rows.append(("cuDNN", rec.get("cudnn") or "-"))
    trt = rec.get("tensorrt") or {}
    if trt.get("version"):
        where = ["Python bindings" if trt.get("python") else "no Python bindings",
                 f"trtexec {trt['trtexec']}" if trt.get("trtexec") else "no trtexec"]
        rows.append(("TensorRT", f"{trt['version']} ({', '.join(where)})"))
    else:
        rows.append(("TensorRT", "not installed"))
    return rows


def _library_rows(rec: dict) -> list:
    ort, torch, cv = rec.get("onnxruntime"), rec.get("torch"), rec.get("opencv")
    rows = [("ONNX Runtime", f"{ort['version']}, providers: {', '.join(ort['providers']) or '-'}"
             if ort else "not installed")]
    if torch and torch.get("version"):
        gpu = f"GPU: {torch['device']}" if torch.get("cuda_available") else "no GPU visible to torch"
        rows.append(("torch", f"{torch['version']} (built for CUDA {torch.get('cuda') or '-'}), {gpu}"))
    else:
        rows.append(("torch", "installed, not imported (--no-torch)" if torch
                     else "not installed (not needed to run ONNX or engines)"))
    if cv:
        rows.append(("OpenCV", f"{cv['version']} ({cv.get('package')}): GStreamer {_yn(cv.get('gstreamer'))}, "
                               f"V4L2 {_yn(cv.get('v4l2'))}, FFMPEG {_yn(cv.get('ffmpeg'))}, "
                               f"CUDA {_yn(cv.get('cuda'))}"))
    else:
        rows.append(("OpenCV", "not installed"))
    return rows


def _device_rows(rec: dict) -> list:
    j = rec.get("jetson")
    if j:
        rows = [("Jetson", f"{j.get('model') or '?'}, L4T {j.get('l4t') or '?'}, "
                           f"JetPack {j.get('jetpack') or '?'}"),
                ("Power mode", f"{j.get('power_mode') or '? (nvpmodel not found)'}"
                               f"{' (id %s)' % j['power_mode_id'] if j.get('power_mode_id') is not None else ''}"
                               f", jetson_clocks {_yn(j.get('jetson_clocks'))}")]
        from ..telemetry import telemetry_rows

        rows += telemetry_rows(j)
    else:
        rows = [("Jetson", "no (not an NVIDIA Jetson)")]
    cams = rec.get("cameras") or {}
    video = [f"{v['device']} {v.get('name') or ''} [{v['kind']}]".replace("  ", " ")
             for v in cams.get("video") or []]
    rows.append(("Cameras", "; ".join(video) if video else "none (no /dev/video*)"))
    argus = cams.get("argus") or {}
    if j or argus.get("installed"):
        rows.append(("Argus (CSI)", f"nvargus-daemon {argus.get('daemon') or 'status unknown'}, "
                                    f"socket {'present' if argus.get('socket') else 'absent'}"))
    return rows
