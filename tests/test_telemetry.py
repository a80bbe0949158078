"""Jetson telemetry: jtop's real reading shape parsed from a recorded sample, the fallback without
jetson-stats, and the power sampler's thread and energy arithmetic."""
import json
import time
from pathlib import Path

import pytest

from edgecv.telemetry import (PowerSampler, jtop_installed, parse_snapshot, read_jtop, telemetry_rows,
                              with_jtop)

SAMPLE = Path(__file__).parent / "fixtures" / "jtop_orin_nx.json"


def sample():
    return json.loads(SAMPLE.read_text())


def test_parse_recorded_jtop_sample():
    r = parse_snapshot(sample())
    assert r["source"] == "jtop" and r["power_mode"] == "15W" and r["power_mode_id"] == 0
    assert r["jetson_clocks"] is False
    assert r["power_w"] == pytest.approx(6.421) and r["power_rail"] == "VDD_IN"
    assert r["rails_w"] == {"VDD_CPU_GPU_CV": pytest.approx(2.389), "VDD_SOC": pytest.approx(1.432)}
    assert "cv0" not in r["temperatures_c"] and r["temperatures_c"]["tj"] == pytest.approx(49.093)
    assert r["clocks_mhz"]["cpu_mhz"] == [1497.6, 1420.8]       # offline cores skipped, kHz -> MHz
    assert r["clocks_mhz"]["gpu_mhz"] == pytest.approx(612.0) and r["clocks_mhz"]["emc_pct"] == 17
    assert r["gpu_load"] == pytest.approx(55.3)
    json.dumps(r)   # the record is stored in bench JSON


def test_jtop_reading_overrides_nvpmodel_and_shows_in_info():
    base = {"model": "NVIDIA Jetson Orin NX", "l4t": "36.3.0", "power_mode": None, "power_mode_id": None,
            "jetson_clocks": None}
    rec = with_jtop(base, parse_snapshot(sample()))
    assert rec["power_mode"] == "15W" and rec["jetson_clocks"] is False and rec["telemetry"]["power_w"] > 6
    (label, text), = telemetry_rows(rec)
    assert label == "Telemetry" and "6.42 W (VDD_IN)" in text and "49.1 C hottest (tj)" in text and "612 MHz" in text


def test_fallback_without_jetson_stats():
    if jtop_installed():
        pytest.skip("jetson-stats is installed here; the fallback is for machines without it")
    assert read_jtop() is None
    base = {"model": "x", "power_mode": "MAXN", "power_mode_id": 0, "jetson_clocks": True}
    rec = with_jtop(base)
    assert rec == {**base, "telemetry": None}
    assert "not installed" in telemetry_rows(rec)[0][1]


def test_power_sampler_thread_and_energy():
    watts = iter([6.0, 7.0] * 1000)
    with PowerSampler(lambda: next(watts), interval=0.005) as ps:
        time.sleep(0.2)
    s = ps.summary(images=100)
    assert s["power_samples"] >= 5 and 6.0 <= s["power_w"] <= 7.0
    # energy = mean W x seconds / images, in mJ
    assert s["energy_mj_per_image"] == pytest.approx(s["power_w"] * ps.seconds / 100 * 1000, rel=0.01)
    with PowerSampler(None) as none:
        pass
    assert none.summary(10) == {}      # no reading: bench rows keep latency only
