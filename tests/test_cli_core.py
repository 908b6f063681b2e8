"""The core commands: JSON contracts and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lifsampling", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_calibrate_json_prints_fit(tmp_path):
    out = tmp_path / "cal.json"
    r = run_cli("calibrate", "--json", "--points", "7", "--duration-ms", "600", "--chains", "2",
                "--low-mv", "-53", "--high-mv", "-48", "--out", str(out))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"u0", "alpha", "max_residual"} <= d.keys()
    assert -52.0 < d["u0"] < -49.0 and 0.3 < d["alpha"] < 1.5
    assert json.loads(out.read_text())["u0_mV"] == pytest.approx(d["u0"])


def test_sample_bm_json_keys_and_values():
    r = run_cli("sample-bm", "--units", "3", "--seed", "3", "--duration-ms", "6000", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"kl_lif", "kl_gibbs", "marginals_max_err"} <= d.keys()
    # 6 s of a 3-unit machine: an exact sampler would be near (8-1)/(2*300) ≈ 0.01
    assert 0.0 <= d["kl_lif"] < 0.1 and 0.0 <= d["kl_gibbs"] < 0.1
    assert d["marginals_max_err"] < 0.12


@pytest.mark.parametrize("args, message", [
    (("sample-bm", "--duration-ms", "-1"), "--duration-ms"),
    (("sample-bm", "--units", "0"), "--units"),
    (("sample-bm", "--device", "tpu"), "device"),
    (("sample-bm", "--correction", "magic"), "--correction"),
    (("sample-bm", "--pilot-ms", "0"), "--pilot-ms"),
    (("calibrate", "--preset", "nope"), "preset"),
    (("calibrate", "--low-mv", "-40", "--high-mv", "-50"), "empty"),
])
def test_bad_arguments_give_one_line_error(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and message in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_corrupt_calibration_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "lifsampling.calibration/1", "u0_mV": 1}')
    r = run_cli("sample-bm", "--calibration", str(bad))
    assert r.returncode == 2 and "not a valid calibration file" in r.stderr
    r = run_cli("sample-bm", "--calibration", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "not found" in r.stderr
