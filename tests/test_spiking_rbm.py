"""The spiking classification RBM: mapping, clamping, label read-out, generation, STP scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lifsampling import spiking_rbm as sr
from lifsampling.boltzmann import RBM, random_rbm
from lifsampling.calibration import load_calibration
from lifsampling.mapping import biases_to_leak
from lifsampling.params import RENEWING


@pytest.fixture(scope="module")
def cal():
    return load_calibration("sbs-tutorial")


def small_classifier_rbm() -> RBM:
    """4 pixels + 2 labels, 4 hidden: hidden k detects pixel pair k//2 and votes for label k//2,
    so label 0 ⇔ pixels 0-1 on, label 1 ⇔ pixels 2-3 on."""
    W = torch.zeros(6, 4, dtype=torch.float64)
    for k in range(4):
        grp = k // 2
        W[2 * grp, k] = W[2 * grp + 1, k] = 2.0
        W[4 + grp, k] = 2.5
        W[4 + 1 - grp, k] = -2.5
    b_v = torch.tensor([-1.0, -1.0, -1.0, -1.0, 0.0, 0.0], dtype=torch.float64)
    b_h = torch.full((4,), -3.0, dtype=torch.float64)
    return RBM(W, b_v, b_h, n_labels=2)


def _seed000_conductance(W: float, e_leak_post: float, cal) -> float:
    """Signed conductance (µS) for one Boltzmann weight, computed by hand from seed 000's closed
    form (mapping.py docstring, tau_ref = tau_syn) and Campbell's theorem, with no library code:
    W = w (E_rev - mu) / (alpha_u C_m (1 - tau_s/tau_eff)) [tau_s (e^-1 - 1) - tau_eff
    (e^(-tau_s/tau_eff) - 1)], alpha_u = alpha g_l/g_tot, mu of the *postsynaptic* neuron;
    an inhibitory (W < 0) conductance is returned negative, the engine's sign convention."""
    n, z = cal.neuron, cal.noise
    assert n.tau_ref_ms == n.tau_syn_exc_ms == n.tau_syn_inh_ms  # the closed form's premise
    g_l = n.cm_nF / n.tau_m_ms
    g_e = z.w_exc_uS * z.rate_exc_hz * 1e-3 * n.tau_syn_exc_ms  # <g> = w nu tau_syn
    g_i = z.w_inh_uS * z.rate_inh_hz * 1e-3 * n.tau_syn_inh_ms
    g_tot = g_l + g_e + g_i
    tau_eff, tau_s = n.cm_nF / g_tot, n.tau_syn_exc_ms
    mu = (g_l * e_leak_post + g_e * n.e_rev_exc_mV + g_i * n.e_rev_inh_mV) / g_tot
    alpha_u = cal.alpha_mV * g_l / g_tot
    bracket = tau_s * (math.exp(-1.0) - 1) - tau_eff * (math.exp(-tau_s / tau_eff) - 1)
    e_rev = n.e_rev_exc_mV if W >= 0 else n.e_rev_inh_mV
    g = W * alpha_u * n.cm_nF * (1 - tau_s / tau_eff) / ((e_rev - mu) * bracket)
    scale = cal.weight_scale_exc if W >= 0 else cal.weight_scale_inh
    return (g if W >= 0 else -g) * scale


def test_build_network_matches_the_closed_form_translation(cal):
    """Leak potentials u0 + alpha b and, for every entry, conductances from seed 000's formula
    evaluated by hand; RBM block structure (no v-v / h-h synapses, symmetric in W, the factor
    set by the postsynaptic leak). Exact arithmetic: rtol 1e-9 (float64 round-off only)."""
    rbm = random_rbm(5, 3, seed=1)
    net = sr.build_network(rbm, cal)
    nv = rbm.n_visible
    b = torch.cat([rbm.b_v, rbm.b_h]).numpy()
    e_leak = cal.u0_mV + cal.alpha_mV * b
    np.testing.assert_allclose(net.e_leak_mV.numpy(), e_leak, rtol=0, atol=1e-12)
    w = net.weights_uS.numpy()
    assert (w[:nv, :nv] == 0).all() and (w[nv:, nv:] == 0).all()
    assert np.count_nonzero(w[:nv, nv:]) == rbm.W.numel()
    Wn = rbm.W.numpy()
    assert (Wn > 0).any() and (Wn < 0).any()
    i_pos = np.unravel_index(np.argmax(Wn), Wn.shape)
    i_neg = np.unravel_index(np.argmin(Wn), Wn.shape)
    for i, k in np.ndindex(*Wn.shape):
        # row = presynaptic: visible i -> hidden k (post hidden k) and hidden k -> visible i
        v2h = _seed000_conductance(float(Wn[i, k]), e_leak[nv + k], cal)
        h2v = _seed000_conductance(float(Wn[i, k]), e_leak[i], cal)
        assert w[i, nv + k] == pytest.approx(v2h, rel=1e-9)
        assert w[nv + k, i] == pytest.approx(h2v, rel=1e-9)
    assert w[i_pos[0], nv + i_pos[1]] > 0 > w[i_neg[0], nv + i_neg[1]]
    # symmetric in the Boltzmann weight, not in µS: the factors differ by the posts' leaks
    assert not np.allclose(w, w.T, rtol=1e-6)
    assert net.synapse == RENEWING


def test_build_network_with_layer_correction(cal):
    """LayerCorrection: leak u0 + alpha (b - offset)/gain per layer, synapses into a layer carry
    W/gain of that layer, conductance factor at the corrected postsynaptic leak (closed form by
    hand as above; rtol 1e-9)."""
    rbm = random_rbm(5, 3, seed=1)
    c = sr.LayerCorrection(gain_hidden=0.8, offset_hidden=0.3, gain_visible=0.9,
                           offset_visible=-0.2)
    net = sr.build_network(rbm, cal, correction=c)
    nv = rbm.n_visible
    e_v = cal.u0_mV + cal.alpha_mV * (rbm.b_v.numpy() + 0.2) / 0.9
    e_h = cal.u0_mV + cal.alpha_mV * (rbm.b_h.numpy() - 0.3) / 0.8
    np.testing.assert_allclose(net.e_leak_mV.numpy(), np.concatenate([e_v, e_h]), atol=1e-12)
    w, Wn = net.weights_uS.numpy(), rbm.W.numpy()
    assert (w[:nv, :nv] == 0).all() and (w[nv:, nv:] == 0).all()
    for i, k in ((0, 0), (2, 1), (4, 2), np.unravel_index(np.argmin(Wn), Wn.shape)):
        v2h = _seed000_conductance(float(Wn[i, k]) / 0.8, e_h[k], cal)
        h2v = _seed000_conductance(float(Wn[i, k]) / 0.9, e_v[i], cal)
        assert w[i, nv + k] == pytest.approx(v2h, rel=1e-9)
        assert w[nv + k, i] == pytest.approx(h2v, rel=1e-9)


def test_clamped_network_folds_image_into_hidden_leak(cal):
    rbm = small_classifier_rbm()
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 1, 0]], dtype=float)
    net = sr.clamped_network(rbm, cal, x)
    assert net.e_leak_mV.shape == (3, 2 + 4)
    b_h = rbm.b_h + torch.from_numpy(x) @ rbm.W[:4]
    torch.testing.assert_close(net.e_leak_mV[:, 2:], biases_to_leak(b_h, cal))
    torch.testing.assert_close(net.e_leak_mV[:, :2], biases_to_leak(rbm.b_v[4:], cal).expand(3, 2))
    assert (net.weights_uS[:2, :2] == 0).all() and (net.weights_uS[2:, 2:] == 0).all()


def test_spiking_classification_agrees_with_rbm(cal):
    rbm = small_classifier_rbm()
    x = np.array([[1, 1, 0, 0], [0, 0, 1, 1]] * 8, dtype=float)
    y = np.array([0, 1] * 8)
    assert (rbm.classify(torch.from_numpy(x)).numpy() == y).all()
    p1 = rbm.label_log_probs(torch.from_numpy(x)).exp()[:, 1].numpy()
    # folded pixels, one run per image; pixels clamped by spiking, 4 runs of 50 ms per image
    # with their own clamp phases, averaged
    for clamp, phases in (("folded", 1), ("spiking", 4)):
        res = sr.classify(rbm, cal, x, duration_ms=200.0, burn_in_ms=20.0, batch_size=8,
                          device="cpu", clamp=clamp, phases=phases)
        assert res.label_activity.shape == (16, 2)
        assert res.accuracy(y) >= 0.9
        # the read-out is the sampled marginal of the label units: compare with p(y | x)
        m = res.label_activity[:, 1] / res.label_activity.sum(1).clip(1e-9)
        assert np.abs(m - p1).mean() < 0.15
    with pytest.raises(ValueError, match="phases"):
        sr.classify(rbm, cal, x, phases=0)


def test_bad_inputs_are_rejected(cal):
    rbm = small_classifier_rbm()
    with pytest.raises(ValueError, match="binary"):
        sr.classify(rbm, cal, np.full((2, 4), 0.5))
    with pytest.raises(ValueError, match="shape"):
        sr.classify(rbm, cal, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="label"):
        sr.clamped_network(random_rbm(4, 3), cal, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="init"):
        sr.generate(rbm, cal, n_samples=2, chains=2, init=np.zeros((3, 6)), device="cpu")
    with pytest.raises(ValueError, match="n_samples"):
        sr.generate(rbm, cal, n_samples=0, device="cpu")


def test_generate_and_sampler_interface(cal):
    rbm = small_classifier_rbm()
    s = sr.generate(rbm, cal, n_samples=30, chains=3, burn_in_ms=20.0, seed=2, device="cpu",
                    init=np.array([1, 1, 0, 0, 1, 0], dtype=float))
    assert s.states.shape == (3, 30, 10) and s.states.dtype == torch.uint8
    assert s.pixels.shape == (3, 30, 4) and s.visible.shape == (3, 30, 6)
    sampler = sr.SpikingRBMSampler(cal, burn_in_ms=20.0, device="cpu")
    out = sampler.sample(rbm, 25, chains=2, seed=0)
    assert out.shape == (2, 25, 10)
    assert sampler.info["biological_ms_per_sample"] == 10.0
    # same seed, same samples
    again = sr.SpikingRBMSampler(cal, burn_in_ms=20.0, device="cpu").sample(rbm, 25, chains=2)
    torch.testing.assert_close(out, again)


def test_renormalise_stp_targets_renewing_mean_jump(cal):
    rbm = small_classifier_rbm()
    syn, info = sr.renormalise_stp(rbm, cal, 0.1, 100.0, pilot_ms=600.0, chains=4,
                                   iterations=1, device="cpu")
    h = info["history"][0]
    assert 0 < h["mean_efficacy"] <= 0.1 and 0.5 < h["target_efficacy"] <= 1.0
    assert syn.weight_scale == pytest.approx(h["target_efficacy"] / h["mean_efficacy"])
    assert syn.kind == "tsodyks_markram" and syn.U == 0.1 and syn.tau_rec_ms == 100.0


def test_generate_passes_backend(cal):
    rbm = small_classifier_rbm()
    s = sr.generate(rbm, cal, n_samples=10, chains=2, burn_in_ms=20.0, seed=2, device="cpu",
                    backend="torch")
    assert s.states.shape == (2, 10, 10)
    with pytest.raises(ValueError, match="backend"):
        sr.generate(rbm, cal, n_samples=10, chains=2, burn_in_ms=20.0, device="cpu",
                    backend="nope")
