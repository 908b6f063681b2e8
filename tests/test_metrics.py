"""Metrics: KL and histograms in sbs order, ISL (fixed and validated bandwidth), class switches
and mode switches (noise must not pass), coverage, tau_int/ESS, split-R-hat and bulk ESS,
the cached classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lifsampling.metrics import (
    LinearClassifier,
    autocorrelation,
    class_histogram_distance,
    class_switches,
    classes_visited,
    confident_class_switches,
    confident_fraction,
    confident_runs,
    effective_sample_size,
    ess_bulk,
    integrated_autocorr_time,
    isl,
    isl_per_example,
    isl_select_beta,
    isl_validated,
    kl_divergence,
    marginal_kl,
    marginals_from_distribution,
    mode_switches,
    multichain_diagnostics,
    split_rhat,
    state_histogram,
)


def test_state_histogram_bit_order_and_kl():
    states = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1]])
    p = state_histogram(states)
    assert p[4] == 0.5 and p[1] == 0.25 and p[7] == 0.25 and float(p.sum()) == 1.0
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-8)
    q = torch.tensor([0.5, 0.5])
    r = torch.tensor([0.25, 0.75])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(q, r) == pytest.approx(expected, rel=1e-8)
    # an unvisited state gives a large but finite value with the pseudocount
    kl = kl_divergence(q, torch.tensor([1.0, 0.0]), eps=1e-10)
    expected = 0.5 * math.log(0.5 / 1e-10) + 0.5 * math.log(0.5)
    assert math.isfinite(kl) and kl == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="binary"):
        state_histogram(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="differ"):
        kl_divergence(q, torch.ones(4) / 4)


def test_marginal_kl():
    p = torch.tensor([0.1, 0.2, 0.3, 0.4])          # states 00, 01, 10, 11
    m = marginals_from_distribution(p)
    assert torch.allclose(m, torch.tensor([0.7, 0.6], dtype=torch.float64))
    val = marginal_kl(m, torch.tensor([0.5, 0.5]))
    exp = sum(a * math.log(a / 0.5) + (1 - a) * math.log((1 - a) / 0.5) for a in (0.7, 0.6))
    assert val == pytest.approx(exp, rel=1e-8)


def test_isl_matches_brute_force_and_beta_selection():
    rng = np.random.default_rng(0)
    S = (rng.random((40, 12)) < 0.3).astype(np.float32)
    T = (rng.random((15, 12)) < 0.3).astype(np.float32)
    beta = 0.9
    brute = []
    for x in T:
        terms = [np.prod(np.where(x == s, beta, 1 - beta)) for s in S]
        brute.append(math.log(np.mean(terms)))
    assert np.allclose(isl_per_example(S, T, beta).numpy(), brute, rtol=1e-6)
    assert isl(S, T, beta) == pytest.approx(np.mean(brute), rel=1e-6)
    b, val = isl_select_beta(S, T)
    assert 0.5 <= b < 1 and val >= isl(S, T, 0.95) - 1e-9
    # scoring the samples themselves rewards a sharp kernel
    b_self, _ = isl_select_beta(S, S)
    assert b_self > 0.9
    with pytest.raises(ValueError, match="beta"):
        isl(S, T, 1.0)


def test_class_switch_counts():
    y = np.array([[0, 0, 1, 1, 2, 2, 2, 0, 0, 0, 0]])
    assert class_switches(y, per=None) == 3
    assert class_switches(y) == pytest.approx(1000 * 3 / 10)
    assert classes_visited(np.array([[0, 1, 1], [3, 3, 3]])).tolist() == [2, 1]
    probs = np.array([[0.95, 0.05], [0.05, 0.95], [0.5, 0.5], [0.95, 0.05], [0.92, 0.08]])
    # switches 0->1 (both confident) counts; 1->? (0.5) and ?->0 do not
    assert confident_class_switches(probs, 0.9, per=None) == 1
    assert confident_class_switches(probs[None].repeat(3, 0), 0.9) == pytest.approx(1000 / 4)
    d = class_histogram_distance(np.array([0, 0, 1, 1]), [0.5, 0.5])
    assert d["total_variation"] == pytest.approx(0.0) and d["kl"] == pytest.approx(0.0, abs=1e-8)
    d = class_histogram_distance(np.array([0, 0, 0, 0]), [0.5, 0.5])
    # add-one estimate q_hat = (5/6, 1/6): KL = 0.5 log(0.5/(5/6)) + 0.5 log(0.5/(1/6))
    assert d["total_variation"] == pytest.approx(0.5)
    assert d["kl"] == d["kl_add_one"] == pytest.approx(0.5 * math.log(1.8), rel=1e-12)


def test_integrated_autocorrelation_time_ar1():
    # AR(1): rho(k) = phi^k, tau_int = (1 + phi)/(1 - phi) = 9 for phi = 0.8
    rng = np.random.default_rng(1)
    phi, n, chains = 0.8, 20000, 4
    x = np.zeros((chains, n))
    e = rng.normal(size=(chains, n))
    for i in range(1, n):
        x[:, i] = phi * x[:, i - 1] + e[:, i]
    tau = integrated_autocorr_time(x)
    # Sokal: var(tau_hat)/tau^2 ≈ 2(2M + 1)/N with window M ≈ 5 tau = 45, N = 80,000 -> 4.8 %
    assert tau == pytest.approx(9.0, rel=4 * 0.048)
    assert effective_sample_size(x) == pytest.approx(chains * n / tau, rel=1e-12)
    assert autocorrelation(x)[1] == pytest.approx(phi, abs=0.02)
    white = rng.normal(size=50000)
    assert integrated_autocorr_time(white) == pytest.approx(1.0, abs=0.05)


def test_linear_classifier_and_cache(tmp_path, monkeypatch):
    clf = LinearClassifier(np.eye(3, 4), np.zeros(3))
    p = clf.predict_proba(np.array([[1, 0, 0, 0], [0, 0, 1, 0]]))
    assert np.allclose(p.sum(1), 1) and clf.predict(np.array([[0, 1, 0, 0]]))[0] == 1
    from lifsampling.metrics import mnist_classifier

    monkeypatch.setenv("LIFSAMPLING_CACHE", str(tmp_path))
    c1 = mnist_classifier("builtin", max_train=300)
    files = list(tmp_path.glob("classifier_logreg_*.npz"))
    assert len(files) == 1
    # 300 training images: the logistic regression still classifies well above chance (0.1)
    assert c1.meta["test_accuracy"] > 0.6
    c2 = mnist_classifier("builtin", max_train=300)           # from the cache, identical
    assert np.array_equal(c1.coef, c2.coef)
    files[0].write_bytes(b"corrupt")                          # a corrupt cache is rebuilt
    c3 = mnist_classifier("builtin", max_train=300)
    assert np.allclose(c3.coef, c1.coef, atol=1e-4)


def test_confident_switches_skipping_uncertain_samples():
    """A chain 0,0,?,1,1,?,?,0 (? = ambiguous): consecutive-confident counting sees no switch,
    skipping the ambiguous samples sees two (0->1, 1->0); flicker among ambiguous samples never
    counts."""
    from lifsampling.metrics import confident_class_switches

    sure = {0: [0.95, 0.05], 1: [0.05, 0.95]}
    unsure = [0.5, 0.5]
    seq = [sure[0], sure[0], unsure, sure[1], sure[1], unsure, unsure, sure[0]]
    probs = np.array(seq)[None]
    assert confident_class_switches(probs, 0.9, per=None) == 0.0
    assert confident_class_switches(probs, 0.9, per=None, skip_uncertain=True) == 2.0
    assert confident_class_switches(np.array([unsure, [0.4, 0.6], unsure])[None], 0.9,
                                    per=None, skip_uncertain=True) == 0.0


# --------------------------------------------------------------------------------------------
# mode switches between confident runs
# --------------------------------------------------------------------------------------------
def _probs_from(classes, confident, n_classes=10, p_conf=0.95, p_unsure=0.5):
    """One-hot-ish class probabilities: p_conf (or p_unsure) on the class, the rest spread."""
    classes = np.asarray(classes)
    top = np.where(confident, p_conf, p_unsure)[..., None]
    p = np.broadcast_to((1 - top) / (n_classes - 1), classes.shape + (n_classes,)).copy()
    np.put_along_axis(p, classes[..., None], top, axis=-1)
    return p


def test_mode_switches_reject_iid_noise():
    """Independent uniform classes over 10 digits, 20 % of samples confident (p = 0.95), else
    max p = 0.5; 20 chains x 5000 samples.

    A run needs >= 3 consecutive confident samples of one class: a given position starts one
    with probability <= 0.2^3 * 0.1^2 = 8e-5, and switches <= runs, so the expected rate is
    <= 1000 * 8e-5 = 0.08 per 1000 pairs (about 0.4 runs per chain; with Poisson runs the
    expected switches are 20 * 0.9 * (0.4 - 1 + e^-0.4) = 1.3 in all, 0.013 per 1000).
    Skipping uncertain samples instead counts a switch at 90 % of the ~0.2 S confident samples:
    1000 * 0.2 * 0.9 = 180 per 1000 (sd ~ 1.3: confident count sd sqrt(1e5 * 0.16) = 126)."""
    rng = np.random.default_rng(7)
    chains, n = 20, 5000
    cls = rng.integers(0, 10, size=(chains, n))
    conf = rng.random((chains, n)) < 0.2
    probs = _probs_from(cls, conf)
    assert confident_fraction(probs, 0.9) == pytest.approx(0.2, abs=0.005)
    ms = mode_switches(probs, 0.9, min_run=3)
    assert ms < 1.0
    assert mode_switches(probs, 0.9, min_run=3, per=None) <= 10      # expected 1.3
    skip = confident_class_switches(probs, 0.9, skip_uncertain=True)
    assert skip > 100 and skip == pytest.approx(180.0, abs=6.0)


def test_mode_switches_of_a_clean_sampler():
    """Every sample confident, the digit changes every 200 samples: 9 changes in each of 3
    chains of 2000 samples, 1000 * 27 / (3 * 1999) per 1000 pairs."""
    chains, n = 3, 2000
    t = np.arange(n)
    cls = (t[None] // 200 + np.arange(chains)[:, None]) % 10
    probs = _probs_from(cls, np.ones_like(cls, dtype=bool), p_conf=0.99)
    assert mode_switches(probs, per=None) == 27.0
    assert mode_switches(probs) == pytest.approx(1000 * 27 / (3 * 1999), rel=1e-12)
    assert mode_switches(probs) == pytest.approx(confident_class_switches(probs), rel=1e-12)
    runs = confident_runs(probs)
    assert [len(r) for r in runs] == [10, 10, 10]
    assert runs[1][0] == (1, 0, 200) and runs[1][-1] == (0, 1800, 200)


def test_mode_switches_hand_sequence():
    """0 0 0 ? 1 1 ? 2 2 2 2 ? 2 2 2 0 0 0 1  (? = uncertain, argmax 5 or 1).

    Runs of >= 3: (0, 0, 3), (2, 7, 4), (2, 12, 3), (0, 15, 3); the 1 1 at 4-5 is too short and
    is ignored with the uncertain samples: switches 0->2 and 2->0 = 2 (2->2 is none)."""
    cls = np.array([0, 0, 0, 5, 1, 1, 1, 2, 2, 2, 2, 5, 2, 2, 2, 0, 0, 0, 1])
    conf = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], dtype=bool)
    probs = _probs_from(cls, conf, p_unsure=0.6)
    assert confident_runs(probs) == [[(0, 0, 3), (2, 7, 4), (2, 12, 3), (0, 15, 3)]]
    assert mode_switches(probs, per=None) == 2.0
    assert mode_switches(probs) == pytest.approx(1000 * 2 / 18)
    # the run of two counts once min_run = 2 (0->1, 1->2, 2->0); the final 1 at min_run = 1
    assert mode_switches(probs, min_run=2, per=None) == 3.0
    assert mode_switches(probs, min_run=1, per=None) == 4.0
    # consecutive-confident pairs: 2->0 at 14-15 and 0->1 at 17-18; skipping uncertain samples:
    # 0->1, 1->2, 2->0, 0->1
    assert confident_class_switches(probs, per=None) == 2.0
    assert confident_class_switches(probs, per=None, skip_uncertain=True) == 4.0
    # a second chain that is never confident adds pairs but no switch
    two = np.stack([probs, _probs_from(cls, np.zeros_like(conf))])
    assert mode_switches(two) == pytest.approx(1000 * 2 / 36)
    assert confident_fraction(two, 0.9) == pytest.approx(conf.sum() / 38)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 0.0}, "threshold"), ({"threshold": 1.5}, "threshold"),
    ({"min_run": 0}, "min_run"), ({"min_run": 2.5}, "min_run"), ({"min_run": True}, "min_run"),
])
def test_mode_switches_validate_arguments(kwargs, match):
    probs = _probs_from(np.zeros(5, dtype=int), np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match=match):
        mode_switches(probs, **kwargs)


def test_mode_switches_validate_shape():
    with pytest.raises(ValueError, match=r"\(S, C\)"):
        mode_switches(np.ones(5))
    with pytest.raises(ValueError, match=r"\(S, C\)"):
        confident_runs(np.ones((2, 2, 3, 4)))
    with pytest.raises(ValueError, match="finite"):
        confident_fraction(np.array([[np.nan, 1.0]]))


# --------------------------------------------------------------------------------------------
# multi-chain diagnostics
# --------------------------------------------------------------------------------------------
def test_split_rhat_and_ess_of_chains_stuck_in_different_modes():
    rng = np.random.default_rng(3)
    x = np.stack([rng.normal(0, 1, 1000), rng.normal(5, 1, 1000)])
    assert split_rhat(x) > 1.5
    assert ess_bulk(x) < 0.01 * x.size
    # autocovariances about the pooled mean: rho(k) ~ 6.25 / 7.25 at all lags, tau_int ~ S
    assert integrated_autocorr_time(x) > 100
    assert effective_sample_size(x) < 20
    # each chain alone (its own mean) is white noise
    assert integrated_autocorr_time(x[1]) == pytest.approx(1.0, abs=0.2)


def test_split_rhat_and_ess_of_iid_chains():
    """iid N(0,1), 4 chains x 1000 (8 half-chains of N = 500): R-hat - 1 ~ (chi2_7/7 - 1)/(2N),
    sd ~ 5e-4, so < 1.02 has a wide margin; ESS ~ 4000 with a few % scatter."""
    x = np.random.default_rng(4).normal(size=(4, 1000))
    assert 1.0 - 0.01 < split_rhat(x) < 1.02
    assert ess_bulk(x) == pytest.approx(4000, rel=0.2)
    # one chain is split into two halves
    assert split_rhat(x[0]) < 1.02


# R-hat and bulk ESS of ArviZ 0.23.4 (az.rhat(x, method="rank"), az.ess(x, method="bulk")) on
# the inputs of _reference_inputs, computed once; R-hat is the same algorithm, the ESS differs
# only in where Geyer's sequence is cut.
_ARVIZ = {"iid": (1.0003378426385772, 3926.116904360444),
          "stuck": (1.8268469409884205, 2.922378298089296),
          "scale": (1.221111003252877, 1920.4292275539046),
          "indicator": (1.000781451458664, 1588.1841383552135),
          "ar1_odd": (1.0038367441308682, 373.51632596837953)}


def _reference_inputs():
    rng = np.random.default_rng(0)
    out = {"iid": rng.normal(size=(4, 1000)),
           "stuck": np.stack([rng.normal(size=1000), rng.normal(5, 1, size=1000)])}
    x = np.zeros((4, 2001))
    e = rng.normal(size=(4, 2001))
    for i in range(1, 2001):
        x[:, i] = 0.9 * x[:, i - 1] + e[:, i]
    out["ar1_odd"] = x
    out["indicator"] = (rng.random((3, 500)) < 0.2).astype(float)
    out["scale"] = np.stack([rng.normal(size=1000), 3 * rng.normal(size=1000)])
    return out


def test_split_rhat_and_ess_match_arviz_reference_values():
    for name, x in _reference_inputs().items():
        rhat, ess = _ARVIZ[name]
        assert split_rhat(x) == pytest.approx(rhat, rel=1e-9), name
        assert ess_bulk(x) == pytest.approx(ess, rel=0.02), name


def test_multichain_diagnostics_of_class_indicators():
    rng = np.random.default_rng(5)
    fe = rng.normal(size=(2, 1000))
    stuck = np.stack([np.full(1000, 3), np.full(1000, 7)])
    d = multichain_diagnostics(fe, stuck)
    assert set(d) == {"rhat_free_energy", "ess_free_energy", "rhat_classes", "ess_classes"}
    assert d["rhat_classes"] == math.inf and d["ess_classes"] < 10     # W = 0 < B
    assert d["rhat_free_energy"] < 1.02
    # mostly stuck: 10 % of samples random digits, still far from mixed
    noisy = np.where(rng.random((2, 1000)) < 0.1, rng.integers(0, 10, (2, 1000)), stuck)
    d = multichain_diagnostics(fe, noisy)
    assert math.isfinite(d["rhat_classes"]) and d["rhat_classes"] > 1.5
    # well mixed: iid uniform digits in 4 chains
    mixed = rng.integers(0, 10, (4, 1000))
    d = multichain_diagnostics(rng.normal(size=(4, 1000)), mixed)
    assert d["rhat_classes"] < 1.02 and d["ess_classes"] > 0.8 * 4000
    # labels outside [0, n_classes) count as "no class": chain 0 never shows 7, chain 1 always
    d = multichain_diagnostics(fe, np.where(stuck == 3, -1, 7))
    assert d["rhat_classes"] == math.inf and d["ess_classes"] < 10
    # a single class in every sample: no indicator varies
    d = multichain_diagnostics(fe, np.full((2, 1000), 4))
    assert math.isnan(d["rhat_classes"]) and math.isnan(d["ess_classes"])
    with pytest.raises(ValueError, match="same"):
        multichain_diagnostics(fe, mixed)


def test_constant_and_short_input():
    assert math.isnan(split_rhat(np.ones((3, 100)))) and math.isnan(ess_bulk(np.ones((3, 100))))
    with pytest.raises(ValueError, match="S >= 4"):
        split_rhat(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        ess_bulk(np.array([[0.0, 1.0, np.inf, 2.0]]))


def test_autocorrelation_single_chain_about_its_own_mean():
    x = np.random.default_rng(6).normal(3.0, 1.0, 400)
    d = x - x.mean()
    assert autocorrelation(x)[1] == pytest.approx(float(d[1:] @ d[:-1] / (d @ d)), rel=1e-10)


# --------------------------------------------------------------------------------------------
# ISL with a validated bandwidth, class histogram distance
# --------------------------------------------------------------------------------------------
def _isl_brute(S, X, beta):
    return float(np.mean([math.log(np.mean([np.prod(np.where(x == s, beta, 1 - beta))
                                            for s in S])) for x in X]))


def test_isl_validated_equals_brute_force_argmax():
    rng = np.random.default_rng(8)
    S = (rng.random((30, 10)) < 0.3).astype(np.float32)
    T = (rng.random((12, 10)) < 0.3).astype(np.float32)
    V = (rng.random((12, 10)) < 0.3).astype(np.float32)
    grid = np.linspace(0.5, 0.99, 25)
    val = [_isl_brute(S, V, b) for b in grid]
    k = int(np.argmax(val))
    r = isl_validated(S, T, V, betas=grid)
    assert r["beta"] == grid[k]
    assert r["isl_validation"] == pytest.approx(val[k], rel=1e-6)
    assert r["isl"] == pytest.approx(_isl_brute(S, T, grid[k]), rel=1e-6)
    assert 0.5 <= isl_validated(S, T, V)["beta"] < 1                    # default grid
    with pytest.raises(ValueError, match="betas"):
        isl_validated(S, T, V, betas=[0.3, 0.9])


def test_isl_rejects_non_binary_input():
    S = np.array([[0.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match=r"must be binary \(0/1\)"):
        isl(np.array([[-1.0, 2.0]]), S)
    with pytest.raises(ValueError, match=r"must be binary \(0/1\)"):
        isl(S, np.array([[0.2, 1.0]]))
    with pytest.raises(ValueError, match=r"must be binary \(0/1\)"):
        isl_validated(S, S, np.array([[-1.0, 2.0]]))


def test_class_histogram_distance_add_one_kl():
    # counts (3, 1, 1) of N = 5 (the -1 is ignored), C = 3: add-one q_hat = (4, 2, 2)/8
    q = [0.2, 0.3, 0.5]
    d = class_histogram_distance(np.array([0, 0, 0, 1, 2, -1]), q)
    assert d["counts"] == [3, 1, 1] and d["histogram"] == pytest.approx([0.6, 0.2, 0.2])
    assert d["total_variation"] == pytest.approx(0.5 * (0.4 + 0.1 + 0.3))
    kl = 0.2 * math.log(0.2 / 0.5) + 0.3 * math.log(0.3 / 0.25) + 0.5 * math.log(0.5 / 0.25)
    assert d["kl_add_one"] == pytest.approx(kl, rel=1e-12) and d["kl"] == d["kl_add_one"]
    assert d["entropy"] == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.2)))
    # a sampler that never produces digits 5-9: 200 samples of each of 0-4, N = 1000, C = 10
    # q_hat = 201/1010 (k < 5), 1/1010 (k >= 5); q = 0.1
    d = class_histogram_distance(np.repeat(np.arange(5), 200)[None], np.full(10, 0.1))
    kl = 0.5 * math.log(0.1 * 1010 / 201) + 0.5 * math.log(0.1 * 1010)
    assert math.isfinite(d["kl"]) and d["kl_add_one"] == pytest.approx(kl, rel=1e-12)
    assert d["total_variation"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="proportions"):
        class_histogram_distance(np.array([0]), [0.5, -0.5])
