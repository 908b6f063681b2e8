"""`lifsampling generative-quality`: the metrics of saved samples, and one-line refusals."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from lifsampling.cli import main
from lifsampling.datasets import binarize, load_mnist

KEYS = ("fd", "fd_floor", "precision", "recall", "isl", "mode_switches_per_1000",
        "confident_fraction", "rhat", "mean_pixel")


def _run(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["lifsampling", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generative_quality_scores_real_and_noise(tmp_path, monkeypatch, capsys):
    """Real training digits score FD near the floor and recall > 0.5; noise scores FD > 10x the
    floor and precision 0 (n = 400 against 500 built-in test images)."""
    ds = load_mnist("builtin")
    real = binarize(ds.x_train[:400]).reshape(4, 100, 784).astype(np.uint8)
    noise = (np.random.default_rng(0).random(real.shape) < 0.5).astype(np.uint8)
    path = tmp_path / "s.npz"
    np.savez(path, real=real, noise=noise)
    code, out, err = _run(monkeypatch, capsys, "generative-quality", str(path), "--data",
                          "builtin", "--n-test", "500", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert set(res) == {"real", "noise"}
    for name in res:
        assert set(KEYS) <= set(res[name])
    r, n = res["real"], res["noise"]
    assert r["fd"] < 2 * r["fd_floor"] and r["recall"] > 0.5 and r["precision"] > 0.7
    assert n["fd"] > 10 * n["fd_floor"] and n["precision"] < 0.05
    assert n["mean_pixel"] == pytest.approx(0.5, abs=0.01)     # 313,600 Bernoulli(0.5) pixels
    assert r["mode_switches_per_1000"] >= 0 and n["mode_switches_per_1000"] < 1


@pytest.mark.parametrize("content, message", [
    (None, "not an npz"),
    ({"x": np.random.default_rng(0).random((2, 10, 784))}, "not binary"),
    ({"x": np.zeros((10, 784))}, "shape"),
    ({"x": np.zeros((2, 10, 100))}, "shape"),
])
def test_generative_quality_refuses_bad_files(tmp_path, monkeypatch, capsys, content, message):
    path = tmp_path / "bad.npz"
    if content is None:
        path.write_text("not a zip")
    else:
        np.savez(path, **content)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = _run(monkeypatch, capsys, "generative-quality", str(path), "--json")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_generative_quality_missing_file(tmp_path, monkeypatch, capsys):
    code, _, err = _run(monkeypatch, capsys, "generative-quality", str(tmp_path / "no.npz"))
    assert code == 2 and "not found" in err and err.count("\n") == 1
