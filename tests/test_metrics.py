"""Metrics: KL and histograms in sbs order, ISL, class switches, coverage, tau_int/ESS,
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
    effective_sample_size,
    integrated_autocorr_time,
    isl,
    isl_per_example,
    isl_select_beta,
    kl_divergence,
    marginal_kl,
    marginals_from_distribution,
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
    assert d["total_variation"] == pytest.approx(0.5) and d["kl"] > 5


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
