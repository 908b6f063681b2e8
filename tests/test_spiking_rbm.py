"""The spiking classification RBM: mapping, clamping, label read-out, generation, STP scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lifsampling import spiking_rbm as sr
from lifsampling.boltzmann import RBM, random_rbm
from lifsampling.experiments.small_bm import default_calibration
from lifsampling.mapping import biases_to_leak, bm_to_network
from lifsampling.params import RENEWING


@pytest.fixture(scope="module")
def cal():
    return default_calibration()


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


def test_build_network_is_the_mapped_boltzmann_machine(cal):
    rbm = random_rbm(5, 3, seed=1)
    net = sr.build_network(rbm, cal)
    bm = rbm.to_boltzmann()
    ref = bm_to_network(bm.W, bm.b, cal)
    torch.testing.assert_close(net.weights_uS, ref.weights_uS)
    torch.testing.assert_close(net.e_leak_mV, ref.e_leak_mV)
    assert net.synapse == RENEWING


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
    res = sr.classify(rbm, cal, x, duration_ms=200.0, burn_in_ms=20.0, batch_size=8,
                      device="cpu")
    assert res.label_activity.shape == (16, 2)
    assert res.accuracy(y) >= 0.9
    # the read-out is the sampled marginal of the label units: compare with p(y | x)
    p1 = rbm.label_log_probs(torch.from_numpy(x)).exp()[:, 1].numpy()
    m = res.label_activity[:, 1] / res.label_activity.sum(1).clip(1e-9)
    assert np.abs(m - p1).mean() < 0.15


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
