"""Sweep of the STP parameters (U_SE, tau_rec): sample quality against mixing (docs/stp.md §4).

For every (U, tau_rec) the synapses are renormalised on a pilot run
(:func:`lifsampling.spiking_rbm.renormalise_stp`), the network dreams from the same start
states for ``n_samples`` × 10 ms, and the mixing table of :mod:`.stp_mixing` is computed.
Heat maps: k-NN precision (quality) against mode switches per 1,000 samples (mixing) and
mean pixel; the statistics are :func:`lifsampling.comparison.sample_statistics`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..boltzmann import RBM
from ..calibration import Calibration
from ..comparison import EvaluationData, sample_statistics
from ..io import write_json
from ..plots import new_figure, save_figure
from ..spiking_rbm import SpikingRBMSampler, renormalise_stp
from .stp_mixing import default_data

HEAT_KEYS = (("precision", "k-NN precision"),
             ("mode_switches_per_1000", "mode switches / 1000 (runs of >= 3 confident)"),
             ("mean_pixel", "mean pixel"))
ROW_KEYS = ("precision", "recall", "fd", "mode_switches_per_1000", "confident_fraction",
            "class_histogram_tv", "isl", "mean_pixel", "rhat")


def run_sweep(rbm: RBM, calibration: Calibration, *, U_values=(0.01, 0.03, 0.1, 0.3),
              tau_values=(50.0, 280.0, 1000.0), n_samples: int = 300, chains: int = 4,
              pilot_ms: float = 500.0, seed: int = 0, device: str = "auto",
              data: EvaluationData | None = None, out_dir: Path | None = None, log=None) -> dict:
    """Grid over U × tau_rec; returns {"grid": [...], "U": [...], "tau_rec_ms": [...]}."""
    U_values, tau_values = [float(u) for u in U_values], [float(t) for t in tau_values]
    if not U_values or not tau_values:
        raise ValueError("need at least one U and one tau_rec")
    for u in U_values:
        if not 0 < u <= 1:
            raise ValueError(f"U must be in (0, 1], got {u}")
    for t in tau_values:
        if not t > 0:
            raise ValueError(f"tau_rec must be > 0 ms, got {t}")
    data = data or default_data(rbm)
    init = data.starts(chains, seed)
    burn = max(1, n_samples // 9)          # the harness's policy: 10 % of the samples dropped
    grid = []
    for u in U_values:
        for tau in tau_values:
            syn, info = renormalise_stp(rbm, calibration, u, tau, pilot_ms=pilot_ms,
                                        iterations=1, seed=seed + 1000, device=device)
            sampler = SpikingRBMSampler(calibration, syn, device=device,
                                        burn_in_ms=calibration.neuron.tau_ref_ms)
            s = sampler.sample(rbm, n_samples + burn, chains=chains, seed=seed, init=init)
            s = s[:, burn:]
            st = sample_statistics(s[..., :784].numpy(), data, rbm=rbm,
                                   visible=s[..., :rbm.n_visible].numpy(), seed=seed)
            row = {"U": u, "tau_rec_ms": tau, "weight_scale": syn.weight_scale,
                   **{k: st[k] for k in ROW_KEYS}}
            grid.append(row)
            if log:
                log(row)
    result = {"grid": grid, "U": U_values, "tau_rec_ms": tau_values, "n_samples": n_samples,
              "chains": chains, "pilot_ms": pilot_ms, "seed": seed,
              "data_mean_pixel": data.data_mean_pixel}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "stp_sweep.json", result)
        plot_sweep(result, out_dir / "stp_sweep.png")
    return result


def plot_sweep(result: dict, path: Path) -> None:
    """Heat maps of mixing and quality over (U, tau_rec)."""
    U, T = result["U"], result["tau_rec_ms"]
    fig, axes = new_figure(1, len(HEAT_KEYS), figsize=(4.2 * len(HEAT_KEYS), 3.4))
    for ax, (key, title) in zip(axes, HEAT_KEYS, strict=True):
        m = np.full((len(U), len(T)), np.nan)
        for row in result["grid"]:
            m[U.index(row["U"]), T.index(row["tau_rec_ms"])] = row[key]
        im = ax.imshow(m, origin="lower", aspect="auto", cmap="viridis")
        for i in range(len(U)):
            for j in range(len(T)):
                ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(T)), [f"{t:g}" for t in T])
        ax.set_yticks(range(len(U)), [f"{u:g}" for u in U])
        ax.set_xlabel("tau_rec (ms)")
        ax.set_ylabel("U_SE")
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    save_figure(fig, path)
