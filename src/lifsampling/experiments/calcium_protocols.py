"""Figures and JSON for the plasticity protocols (STDP window, Sjöström frequency, rate map).

Runs :mod:`lifsampling.plasticity.protocols` for BiCaLL and Graupner–Brunel (GB 'DP' set) side by
side. BiCaLL is deterministic for prescribed spike times, so besides its binary readout
(dw_effective, the change of the mean effective weight of a half-UP population) the figures show
its *graded* hidden-weight change with bistability and clipping switched off (the summed
spike-triggered updates of the whole protocol), which is the rule's learning window.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..plasticity import BiCaLL, BiCaLLParams, make_rule
from ..plasticity.protocols import frequency_protocol, rate_protocol, stdp_protocol

RATES = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 80.0, 120.0, 160.0)


def _graded(c_d1: float = BiCaLLParams.c_d1) -> BiCaLL:
    """BiCaLL without stop-learning, bistability and clipping (graded hidden-weight change)."""
    return BiCaLL(BiCaLLParams(stop_learning=False, c_d1=c_d1).without("bistable", "clip"))


def run_all(out_dir: str | Path, reps: int = 100, device: str = "auto",
            figures: str | Path | None = None) -> dict:
    """Run the three protocols for both rules; write ``calcium_protocols.json`` and figures."""
    from ..io import write_json

    t0 = time.perf_counter()
    res: dict = {"stdp": {}, "frequency": {}, "rate": {}}
    for rule_name in ("bicall", "graupner-brunel"):
        rule = make_rule(rule_name)
        res["stdp"][rule_name] = stdp_protocol(rule, reps=reps, device=device)
        res["frequency"][rule_name] = frequency_protocol(rule, reps=reps, device=device)
        res["rate"][rule_name] = rate_protocol(rule, RATES, RATES, reps=2 * reps, device=device)
    g = _graded()
    res["stdp"]["bicall_graded"] = stdp_protocol(g, reps=1, device=device)
    res["frequency"]["bicall_graded"] = frequency_protocol(g, reps=1, device=device)
    res["rate"]["bicall_graded"] = rate_protocol(g, RATES, RATES, reps=2 * reps, device=device)
    res["rate"]["bicall_graded_mnist"] = rate_protocol(_graded(c_d1=-0.06), RATES, RATES,
                                                       reps=2 * reps, device=device)
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    out = Path(out_dir)
    write_json(out / "calcium_protocols.json", res)
    if figures is not None:
        plot_all(res, Path(figures))
    return res


def plot_all(res: dict, fig_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    # 1. STDP window
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    b, gr, gb = res["stdp"]["bicall"], res["stdp"]["bicall_graded"], res["stdp"]["graupner-brunel"]
    ax[0].plot(gr["dt_ms"], gr["dw_hidden_mean"], "k-", label="hidden Δw, no bistability/clip")
    ax[0].plot(b["dt_ms"], b["dw_effective"], "C0o-", ms=3, label="Δ mean binary weight (full)")
    ax[0].set_title("BiCaLL: 60 pairs at 1 Hz")
    ax[1].plot(gb["dt_ms"], np.array(gb["gb_change_ratio"]) - 1, "C3o-", ms=3,
               label="GB change ratio − 1")
    ax[1].plot(gb["dt_ms"], gb["dw_effective"], "C1s--", ms=3, label="Δ mean UP fraction")
    ax[1].set_title("Graupner–Brunel 2012 (DP set)")
    for a in ax:
        a.axhline(0, color="0.6", lw=0.8)
        a.axvline(0, color="0.6", lw=0.8)
        a.set_xlabel("Δt = t_post − t_pre (ms)")
        a.legend(fontsize=7)
    ax[0].set_ylabel("synaptic change")
    fig.tight_layout()
    fig.savefig(fig_dir / "calcium_stdp.png", dpi=120)
    plt.close(fig)
    # 2. frequency
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for a, key, ylab in ((ax[0], "bicall_graded", "hidden Δw (no bistability/clip)"),
                         (ax[1], "bicall", "Δ mean binary weight"),
                         (ax[2], "graupner-brunel", "GB change ratio − 1")):
        r = res["frequency"][key]
        f, d = np.array(r["freq_hz"]), np.array(r["dt_ms"])
        y = np.array(r["gb_change_ratio"]) - 1 if key == "graupner-brunel" else \
            np.array(r["dw_hidden_mean"] if key == "bicall_graded" else r["dw_effective"])
        for sgn, style in ((10.0, "C0o-"), (-10.0, "C3s-")):
            m = d == sgn
            a.plot(np.arange(m.sum()), y[m], style, label=f"Δt = {sgn:+.0f} ms")
        a.axhline(0, color="0.6", lw=0.8)
        a.set_xticks(range(int((d == 10.0).sum())), [f"{x:g}" for x in f[d == 10.0]])
        a.set_xlabel("pairing frequency (Hz)")
        a.set_ylabel(ylab)
        a.set_title(("BiCaLL graded", "BiCaLL", "Graupner–Brunel")[list(ax).index(a)])
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(fig_dir / "calcium_frequency.png", dpi=120)
    plt.close(fig)
    # 3. rate map
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    n = len(RATES)
    for a, key, title in ((ax[0], "bicall_graded", "BiCaLL LR3 (c_d1 −0.021), no bistab./clip"),
                          (ax[1], "bicall_graded_mnist", "BiCaLL c_d1 −0.06 (MNIST set), same")):
        if key not in res["rate"]:
            continue
        z = np.array(res["rate"][key]["dw_hidden_mean"]).reshape(n, n)
        for k, pre in enumerate(RATES):
            if pre in (2.0, 5.0, 10.0, 20.0, 50.0, 160.0):
                a.plot(RATES, z[k], "o-", ms=3, color=plt.cm.viridis(k / (n - 1)),
                       label=f"pre {pre:g} Hz")
        a.axhline(0, color="0.6", lw=0.8)
        a.set_xscale("log")
        a.set_yscale("symlog", linthresh=1e-2)
        a.set_xlabel("post rate (Hz)")
        a.set_ylabel("mean hidden Δw in 1 s")
        a.set_title(title, fontsize=9)
        a.legend(fontsize=6)
    for a, key, title in ((ax[2], "bicall", "BiCaLL: (P_pot − P_dep)/2 in 1 s"),
                          (ax[3], "graupner-brunel", "GB: (P_pot − P_dep)/2 in 1 s")):
        z = np.array(res["rate"][key]["dw_effective"]).reshape(n, n)
        lim = max(1e-9, float(np.abs(z).max()))
        im = a.imshow(z, origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim)
        a.set_xticks(range(n), [f"{x:g}" for x in RATES])
        a.set_yticks(range(n), [f"{x:g}" for x in RATES])
        a.set_xlabel("post rate (Hz)")
        a.set_ylabel("pre rate (Hz)")
        a.set_title(title, fontsize=9)
        fig.colorbar(im, ax=a, shrink=0.8)
    fig.tight_layout()
    fig.savefig(fig_dir / "calcium_rate.png", dpi=120)
    plt.close(fig)
