"""The tempering study (experiments.tempering_study, ``lifsampling tempering-study``): config
validation, the condition registry's rates, a tiny seed-replicated run on a random 794-20 RBM
(counts, summaries and paired differences recomputed from the per-seed files), reuse of
finished seeds, and the CLI's refusals (one ``error:`` line, exit 2, nothing written)."""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pytest
import torch

from lifsampling.boltzmann import RBM
from lifsampling.boltzmann.train import save_rbm
from lifsampling.cli import main
from lifsampling.experiments import tempering_study as ts
from lifsampling.io import read_npz


# --- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"chains": 0}, "chains"),
    ({"chains": 2.5}, "chains"),
    ({"duration_ms": -1.0}, "duration_ms"),
    ({"duration_ms": math.inf}, "duration_ms"),
    ({"conditions": ("osc_T1.25_10hz", "nope")}, "unknown condition"),
    ({"conditions": ()}, "non-empty"),
    ({"conditions": ("gibbs", "gibbs")}, "repeat"),
    ({"seeds": ()}, "seeds"),
    ({"seeds": (0, -1)}, "seeds"),
    ({"seeds": (1, 1)}, "repeat"),
    ({"read_T": 0.9}, "read_T"),
    ({"conditions": ("osc_T1.25_1hz",), "duration_ms": 2000.0}, "3 periods"),
    ({"conditions": ("gibbs",), "duration_ms": 15.0}, "sweeps"),
    ({"n_test": 5}, "n_test"),
    ({"stp_U": 0.0}, "stp_U"),
    ({"backend": "gpu-magic"}, "backend"),
    ({"device": "tpu"}, "device"),
])
def test_config_validation_says_what_is_wrong(change, message):
    cfg = replace(ts.TemperingStudyConfig(), **change)
    with pytest.raises(ValueError, match=message):
        cfg.validate()


def test_default_and_quick_configs_are_valid():
    ts.TemperingStudyConfig().validate()
    q = ts.quick_config()
    q.validate()
    assert q.model is None and q.data == "builtin"


def test_condition_rates_follow_the_temperature_ladder():
    """Oscillation T <= T_peak @ f: trough 3 kHz, peak 3 kHz T_peak^2 (nu = nu0 T^2), and its
    constant-noise partner at the mean rate 3 kHz (1 + T_peak^2) / 2; STP copies share them."""
    cs = ts.conditions()
    for t in ts.GRID_T_PEAK:
        for f in ts.GRID_F_HZ:
            c = cs[f"osc_T{t:g}_{f:g}hz"]
            rh = c.rhythm
            assert rh.trough_hz == pytest.approx(3000.0)
            assert rh.mean_hz + rh.amplitude_hz == pytest.approx(3000.0 * t * t, rel=1e-9)
            assert rh.frequency_hz == f
            partner = cs[c.constant].rhythm
            assert not partner.oscillating
            assert partner.mean_hz == pytest.approx(1500.0 * (1 + t * t), rel=1e-9)
            s = cs[f"stp_{c.name}"]
            assert s.stp and s.rhythm == rh and s.constant == f"stp_{c.constant}"
    assert cs["const_3k844"].rhythm.mean_hz == 3843.75
    assert cs["hi_osc_T1.25_10hz"].rhythm.trough_hz == pytest.approx(10000.0)
    assert ts.record_ms(cs["osc_T1.25_10hz"].rhythm) == 1.0
    assert ts.record_ms(cs["osc_T1.25_4hz"].rhythm) == 5.0


@contextmanager
def _one_thread():
    """Tiny workloads run faster on one torch thread (two contend on a shared 2-core box)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# --- a tiny run -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 794-20 classification RBM (weights N(0, 0.05^2), pixel biases -1.5: sparse
    images), saved as a model file."""
    g = torch.Generator().manual_seed(3)
    W = 0.05 * torch.randn(794, 20, generator=g)
    b_v = torch.full((794,), -1.5)
    rbm = RBM(W, b_v, torch.zeros(20), n_labels=10)
    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    save_rbm(path, rbm)
    return path


SEEDS = (0, 1, 2)
CHAINS, DURATION = 3, 400.0


@pytest.fixture(scope="module")
def tiny_study(tiny_model, tmp_path_factory):
    cfg = ts.TemperingStudyConfig(model=str(tiny_model),
                                  conditions=("const_3k844", "osc_T1.25_30hz", "gibbs", "ast",
                                              "stp_const_3k"),
                                  seeds=SEEDS, chains=CHAINS, duration_ms=DURATION,
                                  data="builtin", n_test=100, isl_samples=30,
                                  stp_pilot_ms=100.0)
    out = tmp_path_factory.mktemp("study")
    msgs: list[str] = []
    with _one_thread():
        res = ts.run(cfg, out, progress=msgs.append)
    return cfg, out, res, msgs


def test_tiny_run_writes_per_seed_files_and_a_summary(tiny_study):
    cfg, out, res, msgs = tiny_study
    for c in cfg.conditions:
        for s in SEEDS:
            assert (out / f"{c}_s{s}.npz").is_file() and (out / f"{c}_s{s}.json").is_file()
    assert json.loads((out / "study.json").read_text())["summary"].keys() == res["summary"].keys()
    assert list(res["summary"]) == [*cfg.conditions, "const_3k844@osc_T1.25_30hz"]
    assert sum("reused" not in m for m in msgs if m.startswith("[")) == 15
    for row in ("const_3k844", "osc_T1.25_30hz", "gibbs", "stp_const_3k",
                "const_3k844@osc_T1.25_30hz"):
        cell = res["summary"][row]
        for k in ("mode_switches_per_1000", "precision", "recall", "fd", "isl",
                  "confident_fraction", "mean_pixel", "samples"):
            assert cell[k]["n"] == 3 and math.isfinite(cell[k]["mean"]), (row, k)
            assert cell[k]["ci95"] is not None, (row, k)
    # STP: renormalised once by the harness's pilot with the config's U and tau_rec; the scale
    # is the renewing synapse's mean jump over the depressing one's, u R <= U (no facilitation)
    d = json.loads((out / "stp_synapse.json").read_text())
    syn, last = d["synapse"], d["info"]["history"][-1]
    assert syn["U"] == 0.1 and syn["tau_rec_ms"] == 280.0
    assert 0 < last["mean_efficacy"] <= 0.1 and 0 < last["target_efficacy"] <= 1
    assert syn["weight_scale"] == pytest.approx(last["target_efficacy"] / last["mean_efficacy"],
                                                rel=1e-12)
    assert sum(m.startswith("renormalising STP") for m in msgs) == 1
    table = ts.table(res)
    assert table.count("\n| const_3k844 |") == 1 and "osc_T1.25_30hz − const_3k844 |" in table


def test_tiny_run_counts_and_means_match_the_raw_files(tiny_study):
    """Sample counts from the read-out rules, the summary's means from the per-seed files."""
    cfg, out, res, _ = tiny_study
    # constant noise: one sample per 10 ms; Gibbs: one per sweep (= per 10 ms)
    n = int(DURATION / 10.0)
    assert res["summary"]["const_3k844"]["samples"]["mean"] == CHAINS * n
    assert res["summary"]["gibbs"]["samples"]["mean"] == CHAINS * n
    # 30 Hz trough centres (k + 1/2)/30 s inside the recorded span [200, 600) ms, one sample
    # each (the T <= 1.02 window, ~6 ms, is narrower than the 10 ms spacing)
    centres = (np.arange(40) + 0.5) * 1000.0 / 30.0
    troughs = int(((centres >= 200.0) & (centres <= 599.0)).sum())
    for s in SEEDS:
        d = read_npz(out / f"osc_T1.25_30hz_s{s}.npz")
        assert d["visible"].shape == (CHAINS, troughs, 794)
        rate = ts.conditions()["osc_T1.25_30hz"].rhythm.rate()
        assert max(rate(t) for t in d["times_ms"]) <= 3000.0 * 1.02**2 + 1e-6
    per = res["per_seed"]
    pix = [read_npz(out / f"const_3k844_s{s}.npz")["visible"][..., :784].mean() for s in SEEDS]
    assert res["summary"]["const_3k844"]["mean_pixel"]["mean"] == pytest.approx(np.mean(pix),
                                                                                 rel=1e-6)
    d = [per["osc_T1.25_30hz"][str(s)]["isl"] - per["const_3k844"][str(s)]["isl"] for s in SEEDS]
    paired = res["paired"]["osc_T1.25_30hz"]["const_3k844"]
    assert paired["isl"]["mean"] == pytest.approx(np.mean(d), rel=1e-9)
    assert paired["seeds"] == list(SEEDS)
    # the matched read-out keeps the oscillation's sample count
    assert res["summary"]["const_3k844@osc_T1.25_30hz"]["samples"]["mean"] == CHAINS * troughs


def test_finished_seeds_are_reused_and_other_configs_refused(tiny_study, tmp_path):
    cfg, out, res, _ = tiny_study
    msgs: list[str] = []
    with _one_thread():
        again = ts.run(cfg, out, progress=msgs.append)
    assert all("reused" in m for m in msgs if m.startswith("["))
    assert not any(m.startswith("statistics") for m in msgs)  # cached statistics
    assert json.dumps(again["summary"]) == json.dumps(res["summary"])  # nan-safe
    with pytest.raises(ValueError, match="another configuration"):
        ts.run(replace(cfg, chains=CHAINS + 1), out)


def test_plot_writes_a_png(tiny_study, tmp_path):
    _, _, res, _ = tiny_study
    ts.plot(res, tmp_path / "means.png")
    assert (tmp_path / "means.png").read_bytes()[:4] == b"\x89PNG"
    # two grid cells with their constant partner: the heat-map figure
    cell = {k: {"mean": 1.0, "ci95": [0.5, 1.5], "n": 3} for k in ts.SUMMARY_KEYS}
    pair = {k: {"mean": -1.0, "ci95": None, "n": 3} for k in ts.PAIRED_KEYS}
    grid = {"config": res["config"], "summary": {}, "paired": {}}
    for osc in ("osc_T1.25_10hz", "osc_T1.5_4hz"):
        const = ts.conditions()[osc].constant
        grid["summary"][osc] = grid["summary"][const] = cell
        grid["paired"][osc] = {const: {**pair, "mode_switch_ratio": 2.0, "seeds": [0, 1, 2]}}
    ts.plot(grid, tmp_path / "grid.png")
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"


# --- CLI ----------------------------------------------------------------------------------------
@pytest.fixture()
def place(tmp_path, tiny_model):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    np.savez(tmp_path / "listhdr.npz", W=np.zeros((3, 2)), b_v=np.zeros(3), b_h=np.zeros(2),
             header=np.array(json.dumps([1, 2])))
    save_rbm(tmp_path / "small.npz", RBM(torch.zeros(12, 3), torch.zeros(12), torch.zeros(3),
                                         n_labels=2))
    (tmp_path / "tiny.npz").write_bytes(tiny_model.read_bytes())
    return tmp_path


def _cli(place, monkeypatch, args: str) -> int:
    monkeypatch.chdir(place)
    monkeypatch.setattr(sys, "argv", ["lifsampling", "tempering-study",
                                      *args.format(d=place).split()])
    code = 0
    try:
        with _one_thread():
            main()
    except SystemExit as exc:
        code = exc.code
    return code


BAD = [
    ("", "--model PATH"),
    ("--quick --model {d}/tiny.npz", "not both"),
    ("--quick --chains 0", "chains"),
    ("--quick --duration-ms -5", "duration_ms"),
    ("--quick --conditions osc_T1.25_10hz,nope", "unknown condition"),
    ("--quick --conditions zzz*", "matches no condition"),
    ("--quick --seeds a,b", "--seeds"),
    ("--quick --seeds 5-2", "--seeds"),
    ("--quick --read-t 0.5", "read_T"),
    ("--quick --device tpu", "device"),
    ("--quick --device cuda:7", "CUDA"),
    ("--quick --data {d}/adir", "MNIST"),
    ("--quick --out {d}/afile", "is a file"),
    ("--quick --plot {d}/adir", "directory"),
    ("--quick --calibration {d}/missing.json", "not found"),
    ("--model {d}/missing.npz --out {d}/o", "not found"),
    ("--model {d}/listhdr.npz --out {d}/o", "JSON object"),
    ("--model {d}/small.npz --out {d}/o --conditions const_3k --seeds 0 --chains 1 "
     "--duration-ms 100", "784 pixels"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_cli_bad_input_is_one_line_and_writes_nothing(place, monkeypatch, capsys, args,
                                                      message):
    before = sorted(str(p.relative_to(place)) for p in place.rglob("*"))
    code = _cli(place, monkeypatch, args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert sorted(str(p.relative_to(place)) for p in place.rglob("*")) == before


def test_cli_list_and_a_tiny_run(place, monkeypatch, capsys):
    assert _cli(place, monkeypatch, "--list") == 0
    listed = capsys.readouterr().out
    assert "osc_T1.25_10hz" in listed and "stp_const_3k844" in listed
    args = ("--model {d}/tiny.npz --conditions const_3k,gibb* --seeds 4 --chains 2 "
            "--duration-ms 100 --data builtin --out {d}/o --plot {d}/p.png --json")
    assert _cli(place, monkeypatch, args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["config"]["seeds"] == [4] and res["config"]["chains"] == 2
    assert res["config"]["conditions"] == ["const_3k", "gibbs"]
    assert res["summary"]["const_3k"]["samples"]["mean"] == 2 * 10
    assert (place / "o" / "const_3k_s4.npz").is_file() and (place / "p.png").is_file()
