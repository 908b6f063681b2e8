"""`lifsampling reproduce --quick` of the sampling claims (classical-mixing, stp-mixing,
stp-imbalance, stp-classify, tempering): each runs the harness on a 794-100 RBM trained on the
built-in subset and asserts its figure within a tolerance derived from its sample size.

Counting model of the mode-switch figures: 3 seeds x 4 chains x 60 samples = 708 consecutive
pairs; a rate r per 1,000 is k = 0.708 r switches, Poisson-like, so a 4-sigma band is
k +- 4 sqrt(k). The runs are seeded, so on one platform they repeat exactly; the bands absorb
platform differences (float32 kernels, BLAS)."""

from __future__ import annotations

import json
import math

import pytest

from lifsampling.experiments.reproduce import ClaimConfig, run_claim

pytestmark = pytest.mark.slow
PAIRS = 3 * 4 * 59


def _band(rate_per_1000: float, sigmas: float = 4.0) -> tuple[float, float]:
    k = rate_per_1000 * PAIRS / 1000
    d = sigmas * math.sqrt(max(k, 1.0))
    return max(0.0, (k - d) * 1000 / PAIRS), (k + d) * 1000 / PAIRS


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


def _quick(name, out):
    res = run_claim(name, ClaimConfig(quick=True, out_dir=out, device="cpu"))
    run_dir = res["run_dir"]
    results = json.loads((out / run_dir.split("/")[-1] / "results.json").read_text())
    assert res["quick"] is True and res["claim"] == name
    return res, results


def test_stp_mixing_quick(out):
    """Measured 18.4 switches/1000 (13 switches); STP's samples are digits (precision > 0.5,
    noise scores 0) covering more of the data than Gibbs's (recall)."""
    res, results = _quick("stp-mixing", out)
    lo, hi = _band(18.4)
    assert lo <= res["figure"] <= hi
    assert res["ci95"] is not None and res["ci95"][0] <= res["figure"] <= res["ci95"][1]
    assert len(results["per_seed"]) == 3 and res["seeds"] == [0, 1, 2]
    assert res["equal_samples.stp.precision"] > 0.5
    assert res["equal_samples.stp.recall"] > res["equal_samples.gibbs.recall"]
    assert res["equal_samples.stp.fd"] < res["equal_samples.gibbs.fd"]
    # the equal-time budget ran: Gibbs at STP's wall time
    assert "equal_time.gibbs.precision" in res


def test_classical_mixing_quick(out):
    """PT measured 24.0 switches/1000 (17 switches); every sampler draws digits."""
    res, _ = _quick("classical-mixing", out)
    lo, hi = _band(24.0)
    assert lo <= res["figure"] <= hi
    for name in ("gibbs", "ast", "pt"):
        assert res[f"equal_samples.{name}.precision"] > 0.5


def test_stp_imbalance_quick(out):
    """STP's TV to the training proportions, measured 0.217 over 3 x 4 x 60 samples: a TV over
    10 classes from ~720 correlated samples has a s.d. of ~0.03-0.05, so +-0.15 is 3-5 s.d."""
    res, _ = _quick("stp-imbalance", out)
    assert abs(res["figure"] - 0.217) < 0.15
    assert len(res["training_proportions"]) == 10
    assert res["training_proportions"][0] > 5 * res["training_proportions"][9]


def test_stp_classify_quick(out):
    """300 test images, 60 ms read-out: spiking 78.3 %, RBM 88.0 % (difference -9.7 pp on this
    small quick RBM). Binomial s.e. of each accuracy ~2.3 pp and of the paired difference
    sqrt(0.17/300) = 2.4 pp: the bounds are the measured values +- 4 s.e."""
    res, _ = _quick("stp-classify", out)
    assert res["n_test"] == 300
    assert abs(res["accuracy"] - 0.783) < 0.10
    assert abs(res["rbm_accuracy"] - 0.88) < 0.08
    assert abs(res["figure"] - (-9.67)) < 10.0


def test_tempering_quick(out):
    """Fresh seeds 100-102, 4 chains x 2 s: oscillation minus constant noise, measured -10.1
    switches/1000 (constant ~10, oscillation 0 on this small quick RBM); the bound is the
    constant-noise count's 4-sigma band. Both samplers draw digits."""
    res, results = _quick("tempering", out)
    assert res["seeds"] == [100, 101, 102]
    assert -30.0 <= res["figure"] <= 5.0
    assert res["constant.precision"] > 0.5 and res["oscillation.precision"] > 0.5
    # the baselines also ran at the oscillating run's wall time: Gibbs thinned to the same
    # 200 samples per chain as at equal sweeps, AST on the one 20-level ladder
    for row in results["per_seed"]:
        s = row["samplers"]
        assert s["gibbs_equal_time"]["samples"] == s["gibbs"]["samples"] == 4 * 200
        assert "ast_equal_time" in s


def test_tempering_baselines_quick(out):
    """Gibbs and AST (the one 20-level ladder) at the tempering budget, 2,000 sweeps x 4 chains,
    seeds 100-102: AST measured 43.6 switches/1000 over its ~400 beta = 1 samples per seed
    (52 switches over 1,196 pairs in all), Gibbs 13.3 over 8,000 per seed. The band is AST's
    4-sigma Poisson band over the pooled count; AST, which tempers, switches more often than
    Gibbs."""
    res, results = _quick("tempering-baselines", out)
    assert res["seeds"] == [100, 101, 102]
    pairs = sum(r["samplers"]["ast"]["samples"] - 4 for r in results["per_seed"])
    k = res["figure"] * pairs / 1000
    assert abs(k - 52.0) <= 4 * math.sqrt(52.0), (k, pairs)
    assert res["figure"] > res["gibbs.mode_switches_per_1000"]
    assert res["ast.precision"] > 0.5 and res["gibbs.precision"] > 0.5
    # the 20-level ladder: ~1/20 of AST's 4 x 2,000 steps are at beta = 1
    for r in results["per_seed"]:
        assert 4 * 2000 / 20 * 0.5 < r["samplers"]["ast"]["samples"] < 4 * 2000 / 20 * 2


def test_fidelity_quick(out):
    """The quick 794-100 RBM, 20 built-in test images clamped by spiking, 400 ms as 8 clamp
    phases, the correction fitted on 20 training images (2 x 200 ms). Measured: hidden RMS
    0.033 and 0.036 on seeds 0 and 1 (uncorrected 0.053), noise floor 0.034; visible 0.042.
    At 400 ms the floor is most of the RMS (2,000 unit x state pairs put the RMS's own
    relative s.e. near 2 %), so: a corrected RMS within [0.02, 0.08], below the uncorrected
    one, gain within 0.15 of 1."""
    res, results = _quick("fidelity", out)
    assert res["seeds"] == [0, 1] and len(results["per_seed"]) == 2
    assert 0.02 <= res["figure"] <= 0.08
    assert res["figure"] < res["uncorrected_hidden_rms"]
    assert abs(res["hidden_gain"] - 1) < 0.15 and res["visible_rms"] < 0.08
