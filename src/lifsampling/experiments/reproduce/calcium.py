"""Claims of the calcium-based learning rule (docs/calcium.md): ``calcium-protocols``,
``calcium-mnist``."""

from __future__ import annotations

import time

import numpy as np

from . import Claim, ClaimConfig, mean_ci95, register


def _dev(name: str):
    from ...engine import resolve_device

    return resolve_device(name)


def crossover(x, y) -> float | None:
    """First x where y changes sign from < 0 to >= 0 (linear interpolation between grid
    points); None if it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    for k in range(len(x) - 1):
        if y[k] < 0 <= y[k + 1]:
            return float(x[k] + (x[k + 1] - x[k]) * (-y[k]) / (y[k + 1] - y[k]))
    return None


# --------------------------------------------------------------------------- calcium-protocols
def _proto_params(config: ClaimConfig) -> dict:
    q = config.quick
    return {
        "bicall_freqs_hz": [0.1, 10.0, 20.0, 30.0, 40.0, 44.0, 48.0, 50.0, 55.0, 60.0] if q
        else [0.1, 10.0, 20.0, 30.0] + [float(f) for f in range(35, 61)],
        "bicall": "graded: no stop-learning, bistability or clipping (deterministic, reps = 1)",
        "dt_ms": -10.0, "n_bursts": 15, "pairs_per_burst": 5,
        "stdp_dts_ms": [-10.0, 0.0, 10.0], "stdp_pairs": 60, "stdp_freq_hz": 1.0,
        "gb_preset": "DP", "gb_freqs_hz": [5.0, 10.0, 12.5, 15.0, 17.5, 20.0, 25.0, 30.0, 40.0],
        "gb_reps": 20 if q else 100, "gb_seeds": config.seed_list(full=10, quick=3),
        "gb_seed_meaning": "seed of the stochastic Graupner-Brunel rule (extra figure)"}


def _run_proto(config: ClaimConfig) -> dict:
    import torch

    from ...plasticity import make_rule
    from ...plasticity.protocols import frequency_protocol, stdp_protocol
    from ..calcium_protocols import _graded

    torch.set_num_threads(1)
    p = _proto_params(config)
    dev = _dev(config.device)
    g = _graded()
    fr = frequency_protocol(g, p["bicall_freqs_hz"], dts_ms=(p["dt_ms"],),
                            n_bursts=p["n_bursts"], pairs_per_burst=p["pairs_per_burst"],
                            reps=1, device=dev)
    dw = fr["dw_hidden_mean"]
    f_cross = crossover(fr["freq_hz"], dw)
    st = stdp_protocol(g, p["stdp_dts_ms"], n_pairs=p["stdp_pairs"], freq_hz=p["stdp_freq_hz"],
                       reps=1, device=dev)
    gb = make_rule("graupner-brunel", gb_preset=p["gb_preset"])
    gb_runs = []
    for seed in p["gb_seeds"]:
        r = frequency_protocol(gb, p["gb_freqs_hz"], dts_ms=(p["dt_ms"],),
                               n_bursts=p["n_bursts"], pairs_per_burst=p["pairs_per_burst"],
                               reps=p["gb_reps"], seed=seed, device=dev)
        ratio = np.asarray(r["gb_change_ratio"], float)
        gb_runs.append({"seed": seed, "crossover_hz": crossover(r["freq_hz"], ratio - 1.0),
                        "gb_change_ratio": ratio.tolist()})
    gb_x = [r["crossover_hz"] for r in gb_runs if r["crossover_hz"] is not None]
    gb_mean, gb_ci = mean_ci95(gb_x) if gb_x else (None, None)
    at = dict(zip(fr["freq_hz"], dw, strict=True))
    if config.run_dir is not None:
        _plot(fr["freq_hz"], dw, f_cross, config.figure_path("bicall_frequency.png"))
    return {"figure": float("nan") if f_cross is None else f_cross, "per_seed": [],
            "raw": {"bicall_frequency": fr, "bicall_stdp": st, "gb_frequency": gb_runs},
            "extras": {
                "statistic": "pairing frequency (Hz) at which BiCaLL's post-before-pre "
                             "(dt = -10 ms) change of the hidden weight turns from depression "
                             "to potentiation (Sjostrom protocol, 15 x 5 pairings; linear "
                             "interpolation on the frequency grid)",
                "reference_note": "docs/calcium.md §2 table: -0.40 at 40 Hz, +0.13 at 50 Hz; "
                                  "47.5 Hz by linear interpolation between them",
                "crossed": f_cross is not None,
                "dw_minus10_at_40hz": at.get(40.0), "dw_minus10_at_50hz": at.get(50.0),
                "dw_minus10_at_0_1hz": at.get(0.1),
                "documented_dw_minus10": {"0.1": -1.58, "40": -0.40, "50": 0.13},
                "stdp_dw": dict(zip([str(d) for d in st["dt_ms"]], st["dw_hidden_mean"],
                                    strict=True)),
                "documented_stdp_dw": {"-10.0": -1.38, "0.0": 2.40, "10.0": 1.34},
                "gb_crossover_hz": gb_mean, "gb_crossover_ci95": gb_ci,
                "gb_crossover_seeds": [r["seed"] for r in gb_runs],
                # docs/calcium.md §2 (100 repetitions, one seed): ratio 0.85 at 10 Hz, 1.03
                # at 20 Hz, 1.37 at 40 Hz; 10 seeds x 100 repetitions put the crossover at
                # ~20 Hz, i.e. the table's 1.03 at 20 Hz is within its noise
                "gb_documented_ratio_minus10": {"10": 0.85, "20": 1.03, "40": 1.37}}}


def _plot(freqs, dw, f_cross, path) -> None:
    from ...plots import new_figure, save_figure

    fig, ax = new_figure(figsize=(4.5, 3.2))
    ax.plot(freqs, dw, "o-", ms=3)
    ax.axhline(0, color="0.6", lw=0.8)
    if f_cross is not None:
        ax.axvline(f_cross, color="C3", lw=0.8, ls="--", label=f"crossover {f_cross:.1f} Hz")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("pairing frequency (Hz)")
    ax.set_ylabel("BiCaLL hidden Δw, Δt = −10 ms")
    save_figure(fig, path)


register(Claim(
    name="calcium-protocols",
    summary="Sjostrom protocol: BiCaLL post-before-pre depression turns to potentiation "
            "(crossover frequency)",
    doc="docs/calcium.md §2", reference=47.5, unit="Hz", run=_run_proto,
    parameters=_proto_params, seeded=False))


# --------------------------------------------------------------------------- calcium-mnist
def _mnist_params(config: ClaimConfig) -> dict:
    from dataclasses import asdict

    from ..calcium_mnist import MnistConfig
    from .classical import require_full_mnist

    require_full_mnist(config)
    q = config.quick
    base = asdict(MnistConfig())
    for k in ("seed", "device", "n_train", "n_test", "n_classes"):
        base.pop(k)
    if q:  # 320 images give 40 neurons per class too few teacher-driven presentations each
        base["pool"] = 10
    return {"data": "builtin" if q else "mnist", "classes": 3 if q else 10,
            "n_train": 320 if q else 60_000, "n_test": "all test images of the classes",
            "architecture": "feedforward", "network": base,
            "curve_every": 0 if q else 10_000, "curve_test_images": 500,
            "seeds": config.seed_list(full=10, quick=2),
            "seed_meaning": "network seed (initial weights, Poisson input, teacher); the "
                            "training order of epoch e uses seed + 1 + 7919 e, as run_mnist"}


def _load(source: str, classes: int, n_train: int):
    import torch

    from ...datasets import load_mnist

    d = load_mnist(source, download=False) if source == "mnist" else load_mnist(source)
    tr, te = d.y_train < classes, d.y_test < classes
    if int(tr.sum()) < n_train:
        raise ValueError(f"{source} has only {int(tr.sum())} training images of the first "
                         f"{classes} classes, {n_train} requested")

    def t(x):
        return torch.as_tensor(np.asarray(x, np.float32) / 255.0)

    return (t(d.x_train[tr][:n_train]), torch.as_tensor(d.y_train[tr][:n_train].astype(np.int64)),
            t(d.x_test[te]), torch.as_tensor(d.y_test[te].astype(np.int64)), d.provenance)


def _run_mnist(config: ClaimConfig) -> dict:
    import torch

    from ..calcium_mnist import CalciumClassifier, MnistConfig, evaluate, plot_weights
    from ..calcium_mnist_study import images_to_reach
    from ..calcium_mnist_training import train_epoch

    torch.set_num_threads(1)
    p = _mnist_params(config)
    dev = _dev(config.device)
    xtr, ytr, xte, yte, prov = _load(p["data"], p["classes"], p["n_train"])
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    per_seed = []
    for seed in p["seeds"]:
        cfg = MnistConfig(n_classes=p["classes"], n_train=len(ytr), n_test=len(yte),
                          seed=seed, device=str(dev), **p["network"])
        net = CalciumClassifier(cfg, dev)
        curve_set = (xte[:p["curve_test_images"]], yte[:p["curve_test_images"]])
        t0, history = time.perf_counter(), []
        for epoch in range(cfg.epochs):
            history += train_epoch(net, xtr, ytr, epoch, eval_every=p["curve_every"],
                                   eval_set=curve_set, images_before=epoch * len(ytr))["history"]
        t_train = time.perf_counter() - t0
        acc = evaluate(net, xte, yte)
        n = len(yte)
        per_seed.append({"seed": seed, "value": 100 * acc, "accuracy": acc, "n_test": n,
                         "binomial_se": float(np.sqrt(acc * (1 - acc) / n)),
                         "train_s": round(t_train, 2),
                         "learning_curve": history,
                         "images_to_90": images_to_reach(history, 0.9),
                         "fraction_weights_up": float(
                             (net.ff.w[0] > net.rule.p.theta_bistable).float().mean())})
        if config.run_dir is not None and seed == p["seeds"][0]:
            plot_weights(net.ff.w[0].cpu().numpy(), cfg.pool, config.figure_path("weights.png"),
                         f"BiCaLL feed-forward, seed {seed}: test accuracy {acc:.3f}",
                         n_classes=cfg.n_classes, theta=net.rule.p.theta_bistable)
    acc = float(np.mean([r["accuracy"] for r in per_seed]))
    n = per_seed[0]["n_test"]
    return {"figure": 100 * acc, "per_seed": per_seed, "extras": {
        "statistic": "test accuracy (%) of the spike-count read-out after supervised BiCaLL "
                     "learning, mean over seeds",
        "classes": p["classes"], "n_train": p["n_train"], "n_test": n,
        "learning_curve": "[(training images seen, accuracy on the first "
                          f"{p['curve_test_images']} test images)]; train_s includes it",
        "chance": 100.0 / p["classes"],
        "binomial_se": 100 * float(np.sqrt(acc * (1 - acc) / n)),
        "data": prov.get("source", p["data"])}}


register(Claim(
    name="calcium-mnist",
    summary="supervised MNIST with the BiCaLL rule alone (feed-forward): test accuracy",
    doc="docs/calcium.md §8", reference=91.1, unit="%", run=_run_mnist,
    parameters=_mnist_params))
