"""A small supervised task learned with BiCaLL only, and the plasticity CLI's error handling."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from typer.testing import CliRunner

from lifsampling.cli import app, main
from lifsampling.experiments.calcium_mnist import CalciumClassifier, MnistConfig, evaluate


def _patterns(gen: torch.Generator, protos: torch.Tensor, n: int):
    y = torch.randint(0, protos.shape[0], (n,), generator=gen)
    p = protos[y]
    keep = torch.rand(p.shape, generator=gen) < 0.8  # each prototype pixel kept with p = 0.8
    extra = torch.rand(p.shape, generator=gen) < 0.05  # plus 5 % random background pixels
    return (p * keep + (1 - p) * extra).float(), y


def test_two_random_pattern_classes_learned():
    """Two classes of noisy random binary patterns (400 inputs, coding level 0.25): chance is
    0.5 before training; after 300 teacher-driven presentations the test accuracy on 200 fresh
    samples must exceed 0.9 (measured 1.0 with this seed)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    protos = (torch.rand(2, 400, generator=gen) < 0.25).float()
    cfg = MnistConfig(n_in=400, n_classes=2, pool=5, batch=8, device="cpu", seed=0,
                      test_present_ms=100.0)
    net = CalciumClassifier(cfg, torch.device("cpu"))
    x_test, y_test = _patterns(gen, protos, 200)
    before = evaluate(net, x_test, y_test)
    x, y = _patterns(gen, protos, 300)
    for i in range(0, 300, cfg.batch):
        net.present(x[i:i + cfg.batch], y[i:i + cfg.batch], learn=True)
    after = evaluate(net, x_test, y_test)
    assert before < 0.75
    assert after > 0.9


def test_cli_protocol_json_and_errors(monkeypatch, capsys):
    r = CliRunner()
    res = r.invoke(app, ["plasticity-protocol", "stdp", "--rule", "bicall", "--dt", "-10,10",
                         "--reps", "2", "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["dw_effective"][0] < 0 < out["dw_effective"][1]
    # user mistakes through the real entry point (cli.main, as `lifsampling` / `python -m`):
    # exit status 2 and exactly one line "error: ..." on stderr, no traceback
    for args, message in (
            (["stdp", "--rule", "oja"], "unknown rule 'oja'; use one of bicall, graupner-brunel"),
            (["ltp"], "unknown protocol 'ltp'; use one of stdp, frequency, rate"),
            (["rate", "--rates", "-5,10"], "--rates must be >= 0 Hz"),
            (["rate", "--duration-ms", "-1"], "--duration-ms must be > 0, got -1.0"),
            (["frequency", "--freqs", "0,10"], "--freqs must be > 0 Hz")):
        monkeypatch.setattr(sys, "argv", ["lifsampling", "plasticity-protocol", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code == 2, args
        err = capsys.readouterr().err
        assert err == f"error: {message}\n", args
