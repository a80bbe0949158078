"""Jetson telemetry through jetson-stats (`from jtop import jtop`): power mode, clocks, temperatures, power.

jtop (pip install jetson-stats, on the Jetson) reads what tegrastats shows; edgecv uses it when it is
installed and falls back to nvpmodel/sysfs (edgecv.sysinfo.jetson_info) when not. `parse_snapshot`
turns one recorded jtop reading (the shape of `jetson.stats`, `jetson.power`, `jetson.cpu`,
`jetson.gpu`, `jetson.temperature`, jtop >= 4.2) into edgecv's record; `PowerSampler` samples
board power in a thread while `edgecv bench` times a model, for watts and millijoules per image.

    python -c "from edgecv.telemetry import read_jtop; print(read_jtop())"   # on a Jetson with jetson-stats
"""
from __future__ import annotations

import threading
import time
from typing import Callable, List, Optional

import numpy as np


def jtop_installed() -> bool:
    try:
        import jtop  # noqa: F401
    except ImportError:
        return False
    return True


def snapshot(jetson) -> dict:
    """A JSON-able copy of one jtop reading (what tests/fixtures/jtop_orin_nx.json records)."""
    nvp = getattr(jetson, "nvpmodel", None)
    return {"stats": {k: v for k, v in jetson.stats.items() if k not in ("time", "uptime")},
            "power": jetson.power, "cpu": jetson.cpu, "gpu": {k: dict(v) for k, v in dict(jetson.gpu).items()},
            "temperature": jetson.temperature,
            "nvpmodel": {"name": nvp.name, "id": nvp.id} if nvp is not None else None,
            "jetson_clocks": bool(jetson.jetson_clocks) if jetson.jetson_clocks is not None else None}


def parse_snapshot(snap: dict) -> dict:
    """One jtop reading -> {"source", "power_mode", "jetson_clocks", "power_w", "rails_w",
    "temperatures_c", "clocks_mhz", "gpu_load"}; keys without a reading are None. jtop units:
    power mW, CPU frequencies kHz, GPU frequency kHz, temperatures degC."""
    power = snap.get("power") or {}
    tot = (power.get("tot") or {}).get("power")
    rails = {n: r["power"] / 1000.0 for n, r in (power.get("rail") or {}).items() if r.get("online", True)}
    temps = {n: t["temp"] for n, t in (snap.get("temperature") or {}).items()
             if t.get("online", True) and t.get("temp", -256) > -256}
    cpus = [c["freq"]["cur"] / 1000.0 for c in (snap.get("cpu") or {}).get("cpu", []) if c.get("online") and "freq" in c]
    gpu = next(iter((snap.get("gpu") or {}).values()), {})
    clocks = {"cpu_mhz": [round(f, 1) for f in cpus] or None,
              "gpu_mhz": gpu["freq"]["cur"] / 1000.0 if "freq" in gpu else None,
              "emc_pct": (snap.get("stats") or {}).get("EMC")}
    nvp = snap.get("nvpmodel") or {}
    return {"source": "jtop", "power_mode": nvp.get("name") or (snap.get("stats") or {}).get("nvp model"),
            "power_mode_id": nvp.get("id"), "jetson_clocks": snap.get("jetson_clocks"),
            "power_w": tot / 1000.0 if tot is not None else None, "power_rail": (power.get("tot") or {}).get("name"),
            "rails_w": rails, "temperatures_c": temps, "clocks_mhz": clocks,
            "gpu_load": (gpu.get("status") or {}).get("load")}


def read_jtop(timeout: float = 5.0) -> Optional[dict]:
    """One parsed reading from the jtop service, or None (not installed, service down, timeout)."""
    try:
        from jtop import jtop
    except ImportError:
        return None
    try:
        with jtop(interval=0.5) as jetson:
            t0 = time.monotonic()
            while time.monotonic() - t0 < timeout:
                if jetson.ok():
                    return parse_snapshot(snapshot(jetson))
    except Exception:   # jtop raises its own JtopException when jtop.service is not running
        return None
    return None


def jtop_power_reader() -> Optional[Callable[[], Optional[float]]]:
    """A function returning board power in W from a running jtop, or None without jtop; the
    connection stays open for the caller (closed by PowerSampler.stop)."""
    try:
        from jtop import jtop
    except ImportError:
        return None
    try:
        jetson = jtop(interval=0.1)
        jetson.start()
    except Exception:
        return None

    def read():
        if not jetson.ok():
            return None
        return (jetson.power.get("tot") or {}).get("power", 0) / 1000.0 or None
    read.close = jetson.close
    return read


class PowerSampler:
    """Samples `reader()` (watts, or None) every `interval` s in a thread while the block runs:

        with PowerSampler(reader) as ps:
            run_the_timed_loop()
        ps.summary(images=800)   # {"power_w": 6.4, "energy_mj_per_image": 3.1, "samples": 52, ...}
    """

    def __init__(self, reader: Optional[Callable[[], Optional[float]]], interval: float = 0.05):
        self.reader, self.interval = reader, interval
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread = None
        self.seconds = 0.0

    def _loop(self):
        while not self._stop.is_set():
            try:
                w = self.reader()
            except Exception:   # a sensor hiccup must not end the benchmark
                w = None
            if w is not None:
                self.samples.append(float(w))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t0 = time.perf_counter()
        if self.reader is not None:
            self._thread = threading.Thread(target=self._loop, name="edgecv-power", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        return False

    def summary(self, images: int) -> dict:
        """Mean power and energy per image over the block; {} when there was no reading."""
        if not self.samples or images <= 0:
            return {}
        watts = float(np.mean(self.samples))
        return {"power_w": round(watts, 3), "energy_mj_per_image": round(watts * self.seconds / images * 1000.0, 3),
                "power_samples": len(self.samples)}


def close_reader(reader) -> None:
    if reader is not None and hasattr(reader, "close"):
        try:
            reader.close()
        except Exception:
            pass


def with_jtop(info: dict, reading: Optional[dict] = None) -> dict:
    """The Jetson part of the system record, with jtop's reading merged in when there is one:
    power mode, jetson_clocks, and a "telemetry" dict (power, rails, temperatures, clocks). Without
    jtop (or its service) the record is what nvpmodel and sysfs gave."""
    reading = reading if reading is not None else (read_jtop() if jtop_installed() else None)
    if not reading:
        return {**info, "telemetry": None}
    out = {**info, "telemetry": reading}
    for key in ("power_mode", "power_mode_id", "jetson_clocks"):
        if reading.get(key) is not None:
            out[key] = reading[key]
    return out


def telemetry_rows(jetson: dict) -> list:
    """`edgecv info` lines for the jtop reading: [("Telemetry", "6.4 W (VDD_IN), 49 C max, GPU 612 MHz")]."""
    t = (jetson or {}).get("telemetry")
    if not t:
        return [("Telemetry", "jetson-stats not installed (pip install jetson-stats) or its service is down")]
    temps = t.get("temperatures_c") or {}
    clocks = t.get("clocks_mhz") or {}
    parts = [f"{t['power_w']:.2f} W ({t.get('power_rail') or 'sum of rails'})" if t.get("power_w") is not None
             else "no power sensor", f"{max(temps.values()):.1f} C hottest ({max(temps, key=temps.get)})" if temps else None,
             f"GPU {clocks['gpu_mhz']:.0f} MHz" if clocks.get("gpu_mhz") else None,
             f"CPU {max(clocks['cpu_mhz']):.0f} MHz" if clocks.get("cpu_mhz") else None]
    return [("Telemetry", ", ".join(p for p in parts if p) + " (jtop)")]
