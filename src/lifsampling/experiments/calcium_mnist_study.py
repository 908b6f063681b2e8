"""What each mechanism of the calcium MNIST classifier contributes, and whether correlated
input spikes speed up learning (seed 004: correlation "modulates the learning rate of the
network without altering the mean firing rate").

- :func:`run_ablations`: the default configuration and one row per switched-off mechanism
  (:data:`ABLATIONS`), each trained on the same images and tested on the same test set.
- :func:`template_ceiling`: what a single layer of binary templates can reach at best (no
  spikes): k-means prototypes per class, binarised, scored by their overlap with the image
  alone or with a template-size term (the Hamming distance), against the nearest class mean.
- :func:`run_correlation`: for input correlations c (multiple-interaction process,
  :class:`lifsampling.engine.PoissonInput`, rates unchanged), the test accuracy on a fixed
  evaluation set against the number of training images seen, and the images needed to reach
  a level (:func:`images_to_reach`), per seed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np
import torch

from ..engine.network import resolve_device
from .calcium_mnist import CalciumClassifier, MnistConfig, evaluate
from .calcium_mnist_training import mnist_tensors, train_epoch

#: row name -> MnistConfig overrides of the configuration under study
ABLATIONS: dict[str, dict] = {
    "default": {},
    "no stop-learning": {"stop_learning": False},
    "no bistability": {"bistable": False},
    "no coding-level inhibition": {"g_inh_per_input_uS": 0.0},
    "no lateral inhibition": {"lateral_inh_uS": 0.0},
    "no template-size inhibition": {"size_inh_mV": 0.0, "test_size_inh_mV": 0.0},
    "no adaptive threshold": {"homeostasis_mV": 0.0},
    "no spontaneous input": {"spont_rate_hz": 0.0},
    "whole-pool teacher": {"teacher": "pool"},
    "stochastic transitions p = 0.3": {"p_transition": 0.3},
    "1 neuron per class": {"pool": 1},
    "10 neurons per class": {"pool": 10},
    "50 neurons per class": {"pool": 50},
}


def run_ablation(base: MnistConfig, overrides: dict, data) -> dict:
    """Train ``base`` with ``overrides`` for its epochs on its ``n_train`` images; test accuracy
    on its ``n_test`` test images, training wall / CPU time and the fraction of UP synapses."""
    cfg = replace(base, **overrides)
    dev = resolve_device(cfg.device)
    x, y, xt, yt = mnist_tensors(data, cfg.n_train, cfg.n_test, dev)
    net = CalciumClassifier(cfg, dev)
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(cfg.epochs):
        train_epoch(net, x, y, epoch)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = evaluate(net, xt, yt)
    return {"overrides": overrides, "test_accuracy": acc,
            "binomial_se": float(np.sqrt(acc * (1 - acc) / cfg.n_test)),
            "train_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
            "fraction_weights_up": float((net.ff.w[0] > net.rule.p.theta_bistable)
                                         .float().mean())}


def run_ablations(base: MnistConfig, data, rows: list[str] | None = None,
                  progress: bool = False) -> dict:
    """:func:`run_ablation` for every row of :data:`ABLATIONS` (or ``rows``)."""
    rows = list(ABLATIONS) if rows is None else rows
    unknown = [r for r in rows if r not in ABLATIONS]
    if unknown:
        raise ValueError(f"unknown ablation row(s) {', '.join(unknown)}; known: "
                         f"{', '.join(ABLATIONS)}")
    out = {}
    for r in rows:
        out[r] = run_ablation(base, ABLATIONS[r], data)
        if progress:
            print(f"{r}: test accuracy {out[r]['test_accuracy']:.4f} "
                  f"({out[r]['train_s']:.0f} s)", flush=True)
    return {"config": asdict(base), "rows": out}


def images_to_reach(history: list[tuple[int, float]], level: float) -> int | None:
    """The first number of training images after which the accuracy is >= ``level``."""
    for n, acc in history:
        if acc >= level:
            return int(n)
    return None


def learning_curve(cfg: MnistConfig, data, eval_every: int, eval_n: int) -> list:
    """[(images seen, accuracy on the first ``eval_n`` test images)] every ``eval_every``
    training images, over ``cfg.epochs`` epochs of ``cfg.n_train`` images."""
    dev = resolve_device(cfg.device)
    x, y, xt, yt = mnist_tensors(data, cfg.n_train, eval_n, dev)
    net = CalciumClassifier(cfg, dev)
    history: list = []
    for epoch in range(cfg.epochs):
        history += train_epoch(net, x, y, epoch, eval_every=eval_every, eval_set=(xt, yt),
                               images_before=epoch * cfg.n_train)["history"]
    return history


def run_correlation(base: MnistConfig, data, correlations: list[float], seeds: list[int],
                    eval_every: int = 2000, eval_n: int = 1000, level: float = 0.9,
                    progress: bool = False) -> dict:
    """Learning curves for each input correlation c and seed; the images needed to reach
    ``level`` (None: not reached) and the mean input rate of each c (matched by design)."""
    runs = []
    for c in correlations:
        for s in seeds:
            cfg = replace(base, input_correlation=c, seed=s)
            t0 = time.perf_counter()
            hist = learning_curve(cfg, data, eval_every, eval_n)
            runs.append({"correlation": c, "seed": s, "history": hist,
                         "images_to_level": images_to_reach(hist, level),
                         "final_accuracy": hist[-1][1] if hist else None,
                         "wall_s": round(time.perf_counter() - t0, 1)})
            if progress:
                print(f"c = {c}, seed {s}: final {runs[-1]['final_accuracy']}, images to "
                      f"{level:.0%}: {runs[-1]['images_to_level']}", flush=True)
    return {"config": asdict(base), "level": level, "eval_every": eval_every,
            "eval_n": eval_n, "runs": runs,
            "input_rates_hz": {str(c): input_rate_check(base, data, c) for c in correlations}}


def input_rate_check(cfg: MnistConfig, data, c: float, images: int = 64,
                     duration_ms: float = 1000.0) -> dict:
    """Measured mean input rate (Hz per source, over the first ``images`` training images) with
    correlation ``c`` against the rate asked for: the matched-rates check of the study."""
    from ..engine import Network, PoissonInput, simulate
    from ..params import MNIST_NEURON, NoiseParams

    x = torch.as_tensor(data[0][:images])
    rates = cfg.spont_rate_hz + x * (cfg.input_rate_hz - cfg.spont_rate_hz)
    net = Network(weights_uS=torch.zeros(1, 1), e_leak_mV=torch.full((1,), -70.0),
                  neuron=MNIST_NEURON, noise=NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0))
    inp = PoissonInput(rates, torch.zeros(x.shape[1], 1), correlation=c)
    res = simulate(net, duration_ms, chains=images, dt_ms=cfg.dt_ms, seed=cfg.seed,
                   device="cpu", input=inp, backend=cfg.backend)
    counts = float(res.input_spike_counts.double().sum())
    want = float(rates.double().sum()) * duration_ms / 1e3
    per = images * x.shape[1] * duration_ms / 1e3
    return {"measured_hz": counts / per, "asked_hz": want / per, "ratio": counts / want}


def template_ceiling(data, prototypes: tuple[int, ...] = (1, 10, 30),
                     threshold: float = 0.5, n_test: int = 10000, seed: int = 0) -> dict:
    """Test accuracy of binary prototype classifiers (no spikes, no learning rule).

    Per class, k-means (scikit-learn ``MiniBatchKMeans``, on at most 6,000 training images
    of the class) finds ``k`` centres; a template T is a centre thresholded at ``threshold``.
    An image x is given the class of its best template under two scores: the overlap x.T
    (what excitatory binary synapses with a common inhibition compute) and 2 x.T - |T|
    (minus the Hamming distance for binary x: the overlap with a penalty on the template's
    size). The nearest class mean (real-valued, Euclidean) is the reference."""
    from sklearn.cluster import MiniBatchKMeans

    xtr, ytr, xte, yte = data
    xte, yte = xte[:n_test], yte[:n_test]
    means = np.stack([xtr[ytr == c].mean(0) for c in range(10)])
    d = ((xte[:, None, :] - means[None]) ** 2).sum(-1)
    out = {"nearest_class_mean": float((d.argmin(1) == yte).mean()), "threshold": threshold,
           "rows": []}
    for k in prototypes:
        centres, cls = [], []
        for c in range(10):
            km = MiniBatchKMeans(k, random_state=seed, n_init=3).fit(xtr[ytr == c][:6000])
            centres.append(km.cluster_centers_)
            cls += [c] * k
        t = (np.concatenate(centres) > threshold).astype(np.float32)
        cls = np.asarray(cls)
        overlap = xte @ t.T
        out["rows"].append({
            "prototypes_per_class": k,
            "overlap": float((cls[overlap.argmax(1)] == yte).mean()),
            "hamming": float((cls[(2 * overlap - t.sum(1)).argmax(1)] == yte).mean())})
    return out


def plot_learning_curves(runs: list[dict], path, level: float = 0.9,
                         test_images: int = 1000) -> None:
    """Test accuracy (on the first ``test_images`` test images) against training images
    seen, one line per (correlation, seed) run of :func:`run_correlation`, coloured by
    correlation; the dashed line is ``level``."""
    from ..plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(6, 3.6))
    cs = sorted({r["correlation"] for r in runs})
    colours = dict(zip(cs, ("C0", "C1", "C2", "C3", "C4", "C5"), strict=False))
    for c in cs:
        for i, r in enumerate(x for x in runs if x["correlation"] == c):
            n, acc = zip(*r["history"], strict=True) if r["history"] else ((), ())
            ax.plot(n, acc, color=colours.get(c, "k"), alpha=0.8, lw=1.2,
                    label=f"c = {c:g}" if i == 0 else None)
    ax.axhline(level, ls="--", color="0.5", lw=0.8)
    ax.set_xlabel("training images seen")
    ax.set_ylabel(f"test accuracy (first {test_images:,} images)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    save_figure(fig, path)
