"""In-the-loop training of the spiking network: it learns (exact KL on a tiny RBM) and a
resumed run continues exactly as an uninterrupted one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lifsampling.boltzmann.model import random_rbm, state_index
from lifsampling.calibration import load_calibration
from lifsampling.spiking_rbm import generate, renormalise_stp
from lifsampling.spiking_training import (
    SpikingTrainingConfig,
    load_checkpoint,
    train_spiking,
)

N_SAMPLES, CHAINS = 3000, 4


@pytest.fixture(scope="module")
def cal():
    return load_calibration("fast-membrane")


@pytest.fixture(scope="module")
def data():
    """300 six-pixel images: three prototypes with 5 % of the pixels flipped."""
    rng = np.random.default_rng(0)
    protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]])
    x = protos[rng.integers(0, 3, 300)]
    return np.where(rng.random(x.shape) < 0.05, 1 - x, x).astype(float)


def _kl_data_to_spiking(rbm, cal, data, seed: int, synapse=None) -> float:
    """KL(p_data || p_LIF) over the 64 visible states; p_LIF from N_SAMPLES x CHAINS samples
    with add-half smoothing (its bias, <= 64 / (2 N) ~ 0.003 nats, is far below the
    asserted changes). ``synapse``: the network's synapses (default: renewing)."""
    p = np.bincount(state_index(torch.tensor(data)).numpy(), minlength=64) / len(data)
    s = generate(rbm, cal, n_samples=N_SAMPLES, chains=CHAINS, seed=seed, device="cpu",
                 synapse=synapse)
    q = np.bincount(state_index(s.visible.reshape(-1, 6).double()).numpy(), minlength=64)
    q = (q + 0.5) / (q + 0.5).sum()
    m = p > 0
    return float((p[m] * np.log(p[m] / q[m])).sum())


def test_training_in_the_loop_fits_the_data(cal, data):
    """From a weak random RBM (KL ~ 2 nats) 40 epochs bring the spiking network's own
    distribution within 0.6 nats of the data's, and below a third of where it started."""
    rbm = random_rbm(6, 6, seed=1, scale=0.3)
    before = _kl_data_to_spiking(rbm, cal, data, seed=0)
    cfg = SpikingTrainingConfig(epochs=40, batch_size=20, chains=8, samples_per_update=2,
                                learning_rate=0.3, seed=0)
    tuned, state = train_spiking(rbm, cal, data, cfg, device="cpu")
    after = _kl_data_to_spiking(tuned, cal, data, seed=0)
    assert before > 1.5
    assert after < 0.6 and after < before / 3
    assert len(state.history) == 40
    assert abs(state.history[-1]["negative_mean_pixel"] - data.mean()) < 0.05


def test_stp_in_the_loop_fits_the_depressing_network(cal, data):
    """With ``stp`` the negative phase is the Tsodyks-Markram network itself (U 0.9, tau_rec
    500 ms: strong depression), so training fits what *that* network draws: its KL to the
    data falls below 0.6 nats and below a third of where it started, and below the KL of
    the same depressing network on weights trained without STP in the loop. Renormalisation
    matches the synapses' mean efficacy, so only the rate dependence of the depression is
    left to differ: measured 0.22 against 0.28 nats (seeds 0 and 1 of the sampling agree
    within 0.01), asserted with a margin of 0.03."""
    rbm = random_rbm(6, 6, seed=1, scale=0.3)
    kw = dict(epochs=40, batch_size=20, chains=8, samples_per_update=2, learning_rate=0.3,
              seed=0, stp_U=0.9, stp_tau_rec_ms=500.0)
    # the synapses training uses: renormalised once on the starting RBM, with its seed
    syn, _ = renormalise_stp(rbm, cal, kw["stp_U"], kw["stp_tau_rec_ms"], seed=kw["seed"],
                             device="cpu")
    before = _kl_data_to_spiking(rbm, cal, data, seed=0, synapse=syn)
    with_stp, state = train_spiking(rbm, cal, data, SpikingTrainingConfig(stp=True, **kw),
                                    device="cpu")
    without, _ = train_spiking(rbm, cal, data, SpikingTrainingConfig(**kw), device="cpu")
    after = _kl_data_to_spiking(with_stp, cal, data, seed=0, synapse=syn)
    other = _kl_data_to_spiking(without, cal, data, seed=0, synapse=syn)
    assert before > 1.5
    assert after < 0.6 and after < before / 3
    assert after < other - 0.03
    assert abs(state.history[-1]["negative_mean_pixel"] - data.mean()) < 0.05


@pytest.mark.parametrize("continue_state", [True, False], ids=["continue", "reimpose"])
def test_resumed_run_equals_uninterrupted(cal, data, tmp_path, continue_state):
    """3 epochs in one go == a run interrupted after its first epoch, then resumed from the
    checkpoint (same seed): identical float64 weights, biases and chain states, and with
    continued chains the same full network state (which the checkpoint holds)."""
    rbm = random_rbm(6, 4, seed=2, scale=0.3)
    cfg = SpikingTrainingConfig(epochs=3, batch_size=50, chains=4, learning_rate=0.1, seed=5,
                                continue_state=continue_state)
    full, s_full = train_spiking(rbm, cal, data, cfg, device="cpu",
                                 checkpoint=tmp_path / "a.npz")
    train_spiking(rbm, cal, data, cfg, device="cpu", checkpoint=tmp_path / "b.npz",
                  on_epoch=lambda state: {"stop": True})  # interrupted after epoch 1
    interrupted = load_checkpoint(tmp_path / "b.npz")[0]
    assert interrupted.epoch == 1
    assert (interrupted.network_state is not None) == continue_state
    resumed, s_res = train_spiking(rbm, cal, data, cfg, device="cpu",
                                   checkpoint=tmp_path / "b.npz", resume=True)
    assert s_res.epoch == 3
    assert torch.equal(full.W, resumed.W) and torch.equal(full.b_v, resumed.b_v)
    assert torch.equal(full.b_h, resumed.b_h) and torch.equal(s_full.chains, s_res.chains)
    assert not torch.equal(full.W, rbm.W)
    if continue_state:  # 18 updates of 10 ms free running + 1 sample (10 ms), after tau_ref
        a, b = s_full.network_state, s_res.network_state
        assert a.step == b.step == round((10.0 + 18 * 20.0) / a.dt_ms)
        assert all(torch.equal(x, y) for x, y in zip(a[:7], b[:7], strict=True))


def test_resume_refuses_another_configuration(cal, data, tmp_path):
    rbm = random_rbm(6, 4, seed=2, scale=0.3)
    cfg = SpikingTrainingConfig(epochs=1, batch_size=100, chains=2, seed=0)
    train_spiking(rbm, cal, data, cfg, device="cpu", checkpoint=tmp_path / "c.npz")
    other = SpikingTrainingConfig(epochs=2, batch_size=100, chains=3, seed=0)
    with pytest.raises(ValueError, match="another configuration"):
        train_spiking(rbm, cal, data, other, device="cpu", checkpoint=tmp_path / "c.npz",
                      resume=True)
    with pytest.raises(ValueError, match="chains"):
        SpikingTrainingConfig(chains=0).validate()
    with pytest.raises(ValueError, match="binary"):
        train_spiking(rbm, cal, data * 0.5, cfg, device="cpu")


def test_cli_trains_on_class_imbalanced_data(tmp_path, monkeypatch):
    """``train-spiking --class-weights`` trains on the built-in images with digits 5-9 at a
    tenth of the others' frequency and writes the training proportions into the output
    header, where ``stp-imbalance --model`` reads them: 1/5.5 = 0.182 for digits 0-4 and
    0.1/5.5 = 0.018 for 5-9, up to the rounding of the class counts (< 0.005 at the
    built-in subset's size)."""
    import json
    import sys

    from lifsampling.boltzmann import RBM
    from lifsampling.boltzmann.train import load_rbm, save_rbm
    from lifsampling.cli import main

    r0 = random_rbm(794, 8, seed=0, scale=0.01)
    save_rbm(tmp_path / "m.npz", RBM(r0.W, r0.b_v, r0.b_h, n_labels=10))
    out = tmp_path / "m2.npz"
    monkeypatch.setattr(sys, "argv", [
        "lifsampling", "train-spiking", str(tmp_path / "m.npz"), "--out", str(out),
        "--epochs", "1", "--images-per-epoch", "100", "--batch-size", "50", "--chains", "2",
        "--validation", "0", "--data", "builtin", "--device", "cpu", "--json",
        "--class-weights", "1,1,1,1,1,0.1,0.1,0.1,0.1,0.1"])
    try:
        main()
    except SystemExit as exc:  # a normal end may or may not raise it
        assert exc.code in (0, None)
    _, header = load_rbm(out)
    props = np.array(header["data"]["class_proportions"])
    assert props[:5] == pytest.approx([1 / 5.5] * 5, abs=0.005)
    assert props[5:] == pytest.approx([0.1 / 5.5] * 5, abs=0.005)
    assert header["data"]["class_weights"] == [1.0] * 5 + [0.1] * 5
    assert json.loads((tmp_path / "m2.npz.json").read_text())["epochs_done"] == 1


def test_discriminative_gradient_matches_finite_differences():
    """The hybrid term's gradient of mean log p(y | x) equals central finite differences of
    the exact conditional (to 1e-6) on a 6-pixel, 3-label, 4-hidden RBM, and it is zero for
    the pixel biases (they cancel in p(y | x))."""
    from lifsampling.boltzmann import RBM
    from lifsampling.spiking_training import discriminative_gradient

    r0 = random_rbm(9, 4, seed=2, scale=1.0)
    rbm = RBM(r0.W, r0.b_v, r0.b_h, n_labels=3)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (20, 6)).astype(float)
    v = torch.tensor(np.concatenate([x, np.eye(3)[rng.integers(0, 3, 20)]], 1))
    gW, gv, gh = discriminative_gradient(rbm, v)

    def objective(W, b_v, b_h) -> float:
        r = RBM(W, b_v, b_h, n_labels=3)
        return float(r.label_log_probs(v[:, :6])[torch.arange(20), v[:, 6:].argmax(1)].mean())

    eps = 1e-6
    for (i, j) in ((0, 1), (7, 3), (8, 0)):
        Wp, Wm = rbm.W.clone(), rbm.W.clone()
        Wp[i, j] += eps
        Wm[i, j] -= eps
        num = (objective(Wp, rbm.b_v, rbm.b_h) - objective(Wm, rbm.b_v, rbm.b_h)) / (2 * eps)
        assert float(gW[i, j]) == pytest.approx(num, abs=1e-6)
    hp, hm = rbm.b_h.clone(), rbm.b_h.clone()
    hp[2] += eps
    hm[2] -= eps
    num = (objective(rbm.W, rbm.b_v, hp) - objective(rbm.W, rbm.b_v, hm)) / (2 * eps)
    assert float(gh[2]) == pytest.approx(num, abs=1e-6)
    assert float(gv[:6].abs().max()) < 1e-12 and float(gv[6:].abs().sum()) > 0.01
