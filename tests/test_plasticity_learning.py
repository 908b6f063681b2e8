"""A small supervised task learned with BiCaLL only, and the plasticity CLI's error handling."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from lifsampling.cli import app
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


def test_cli_protocol_json_and_errors():
    r = CliRunner()
    res = r.invoke(app, ["plasticity-protocol", "stdp", "--rule", "bicall", "--dt", "-10,10",
                         "--reps", "2", "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["dw_effective"][0] < 0 < out["dw_effective"][1]
    for args in (["plasticity-protocol", "stdp", "--rule", "oja"],
                 ["plasticity-protocol", "ltp"],
                 ["plasticity-protocol", "rate", "--rates", "-5,10"],
                 ["plasticity-protocol", "rate", "--duration-ms", "-1"],
                 ["plasticity-protocol", "frequency", "--freqs", "0,10"]):
        res = r.invoke(app, args)
        assert res.exit_code != 0
