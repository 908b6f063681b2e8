"""The built-in demo: LIF sampling of a small Boltzmann machine beside Gibbs sampling; the
headline STP result, a small MNIST RBM dreamt by a spiking network with short-term plasticity
(STP) beside Gibbs sampling; and the same RBM fine-tuned in the loop of its STP network, then
dreamt again.

Runs on shipped defaults (the built-in MNIST subset, no download) in under two minutes on 2 CPU
cores and writes its figures to ``out_dir``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..boltzmann import exact_distribution
from ..calibration import load_calibration
from ..plots import new_figure, plot_activation, save_figure
from .small_bm import plot_kl_curves, run_small_bms, uniform_bm


def small_bm_demo(out_dir: Path, seed: int = 0, device: str = "auto",
                  duration_ms: float = 20_000.0) -> dict:
    """Calibration plot, D_KL vs time and the sampled vs exact distribution of a 5-unit BM."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cal = load_calibration("sbs-tutorial")
    plot_activation(cal, out_dir / "activation.png")
    bm = uniform_bm(5, seed)
    res = run_small_bms([bm], cal, duration_ms=duration_ms, chains=10, seed=seed, device=device,
                        progress=True)
    plot_kl_curves(res, out_dir / "kl_vs_time.png")
    p = exact_distribution(bm).numpy()
    fig, ax = new_figure(figsize=(7, 3))
    ax.bar(np.arange(32), p, color="0.7", label="exact")
    ax.set_xlabel("joint state z (unit 0 = most significant bit)")
    ax.set_ylabel("p(z)")
    ax.set_title(f"5-unit BM: D_KL LIF {res.kl_lif[0]:.3f}, Gibbs {res.kl_gibbs[0]:.3f}")
    save_figure(fig, out_dir / "distribution.png")
    return {"calibration": {"u0_mV": cal.u0_mV, "alpha_mV": cal.alpha_mV,
                            "max_residual": cal.max_residual},
            "kl_lif": res.kl_lif[0], "kl_gibbs": res.kl_gibbs[0],
            "marginals_max_err": res.marginals_max_err[0], "duration_ms": duration_ms}


def demo_rbm(seed: int = 0, n_hidden: int = 100, epochs: int = 4):
    """A small classification RBM trained on the built-in subset in seconds (PCD, 784 + 10
    visible, ``n_hidden`` hidden); returns the RBM, its training vectors (pixels + one-hot
    labels) and a description with its test accuracy."""
    import torch

    from ..boltzmann.train import TrainConfig, train_rbm
    from ..datasets import binarize, load_mnist, with_labels

    ds = load_mnist("builtin")
    v = torch.from_numpy(with_labels(binarize(ds.x_train), ds.y_train))
    cfg = TrainConfig(n_hidden=n_hidden, epochs=epochs, batch_size=20, lr=0.05,
                      persistent=True, momentum=0.5, seed=seed)
    rbm, hist = train_rbm(v, cfg, n_labels=10, progress=False,
                          eval_data=(torch.from_numpy(binarize(ds.x_test)),
                                     torch.from_numpy(ds.y_test)))
    return rbm, v, {"n_hidden": n_hidden, "epochs": epochs, "data": "builtin subset",
                    "test_accuracy": hist[-1].get("test_accuracy")}


def stp_demo(out_dir: Path, rbm, rbm_info: dict, seed: int = 0, device: str = "auto",
             n_samples: int = 200, chains: int = 4) -> dict:
    """Dream with LIF + STP (U = 0.1, tau_rec = 280 ms, renormalised) and with Gibbs from the
    same digits on ``rbm`` (:func:`demo_rbm`); write the sample grid, class traces, a GIF of
    the spiking chains and the mixing numbers."""
    from .stp_mixing import default_data, run_mixing, summary

    data = default_data(rbm, data="builtin", n_test=500)
    res = run_mixing(rbm, load_calibration("fast-membrane"), samplers=("stp", "gibbs"),
                     n_samples=n_samples, chains=chains, pilot_ms=300.0, seeds=(seed,),
                     device=device, data=data, out_dir=Path(out_dir))
    table = summary(res)
    g, s = (table[k]["mode_switches_per_1000"] for k in ("gibbs", "stp"))
    return {"rbm": rbm_info, "samples_per_chain": n_samples, "chains": chains,
            "stp_weight_scale": res["per_seed"][0]["construction"]["stp"]["synapse"][
                "weight_scale"],
            "mixing": table, "equal_time": summary(res, "equal_time"),
            "stp_over_gibbs_mode_switches": s / g if g else None,
            "figures": ["stp_samples.png", "stp_classes.png", "stp_dream.gif"]}


def in_loop_demo(out_dir: Path, rbm, train_vectors, seed: int = 0, device: str = "auto",
                 n_samples: int = 200, chains: int = 4, learning_rate: float = 0.01,
                 discriminative_weight: float = 100.0) -> dict:
    """Fine-tune ``rbm`` in the loop of its STP network for one epoch of the built-in training
    images (:func:`lifsampling.spiking_training.train_spiking` with ``stp``, 16 continued
    chains, the hybrid objective with weight ``discriminative_weight``), then dream with
    LIF + STP and Gibbs on the fine-tuned RBM as :func:`stp_demo` does. Returns the training's
    cost, the test accuracy before and after, and the mixing numbers."""
    import time

    import torch

    from ..boltzmann.train import classification_accuracy
    from ..datasets import binarize, load_mnist
    from ..spiking_training import SpikingTrainingConfig, train_spiking
    from .stp_mixing import default_data, run_mixing, summary

    cal = load_calibration("fast-membrane")
    cfg = SpikingTrainingConfig(epochs=1, chains=16, samples_per_update=3,
                                learning_rate=learning_rate, stp=True,
                                discriminative_weight=discriminative_weight, seed=seed)
    t0 = time.perf_counter()
    tuned, _ = train_spiking(rbm, cal, train_vectors.double().numpy(), cfg, device=device,
                             progress=True)
    wall = time.perf_counter() - t0
    tuned = tuned.to(dtype=rbm.dtype)
    ds = load_mnist("builtin")
    x_test, y_test = torch.from_numpy(binarize(ds.x_test)), torch.from_numpy(ds.y_test)
    data = default_data(tuned, data="builtin", n_test=500)
    res = run_mixing(tuned, cal, samplers=("stp", "gibbs"), n_samples=n_samples,
                     chains=chains, pilot_ms=300.0, seeds=(seed,), device=device, data=data,
                     out_dir=Path(out_dir))
    return {"training": {"updates": -(-len(train_vectors) // cfg.batch_size),
                         "chains": cfg.chains, "learning_rate": learning_rate,
                         "discriminative_weight": discriminative_weight, "wall_s": wall},
            "test_accuracy_before": classification_accuracy(rbm, x_test, y_test),
            "test_accuracy_after": classification_accuracy(tuned, x_test, y_test),
            "mixing": summary(res), "equal_time": summary(res, "equal_time"),
            "figures": ["stp_samples.png", "stp_classes.png", "stp_dream.gif"]}


def run_demo(out_dir: Path, seed: int = 0, device: str = "auto") -> dict:
    """Everything the ``lifsampling demo`` command shows; returns the numbers it prints."""
    out_dir = Path(out_dir)
    rbm, vectors, info = demo_rbm(seed)
    return {"small_bm": small_bm_demo(out_dir / "small_bm", seed=seed, device=device),
            "stp_mnist": stp_demo(out_dir / "stp_mnist", rbm, info, seed=seed, device=device),
            "in_loop": in_loop_demo(out_dir / "in_loop", rbm, vectors, seed=seed,
                                    device=device)}
