"""Sweep of the STP parameters (U_SE, tau_rec): sample quality against mixing (docs/stp.md §4).

For every (U, tau_rec) the synapses are renormalised on a pilot run
(:func:`lifsampling.spiking_rbm.renormalise_stp`), the network dreams from the same start
states for ``n_samples`` × 10 ms, and the mixing table of :mod:`.stp_mixing` is computed.
Heat maps: k-NN precision (quality) against mode switches per 1,000 samples (mixing) and
mean pixel; the statistics are :func:`lifsampling.comparison.sample_statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boltzmann import RBM
from ..calibration import Calibration
from ..comparison import EvaluationData, sample_statistics
from ..io import write_json
from ..plots import new_figure, save_figure
from ..spiking_rbm import SpikingRBMSampler, renormalise_stp
from . import _validate as check
from .stp_mixing import default_data

HEAT_KEYS = (("precision", "k-NN precision"),
             ("mode_switches_per_1000", "mode switches / 1000 (runs of >= 3 confident)"),
             ("mean_pixel", "mean pixel"))
ROW_KEYS = ("precision", "recall", "fd", "mode_switches_per_1000", "confident_fraction",
            "class_histogram_tv", "isl", "mean_pixel", "rhat")


@dataclass(frozen=True)
class STPSweepConfig:
    """The grid ``U_values`` (each in (0, 1]) × ``tau_values`` (recovery times, ms, > 0), each
    point renormalised on a ``pilot_ms`` pilot run (ms, > 0) and sampled for ``n_samples``
    (>= 3) per chain on ``chains`` (>= 1) chains with ``seed`` on ``device``. Validated on
    construction (ValueError naming the field)."""

    U_values: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    tau_values: tuple[float, ...] = (50.0, 280.0, 1000.0)
    n_samples: int = 300
    chains: int = 4
    pilot_ms: float = 500.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, low, high in (("U_values", 0.0, 1.0), ("tau_values", 0.0, None)):
            vals = getattr(self, name)
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
                raise ValueError(f"{name} must be a list of numbers, got {vals!r}")
            vals = tuple(check.number(name, v, above=low, at_most=high) for v in vals)
            if not vals:
                raise ValueError(f"{name} is empty: give at least one value")
            set_(self, name, vals)
        set_(self, "n_samples", check.whole("n_samples", self.n_samples, at_least=3))
        set_(self, "chains", check.whole("chains", self.chains, at_least=1))
        set_(self, "pilot_ms", check.number("pilot_ms", self.pilot_ms, above=0.0))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))
        check.device(self.device)


def run_sweep(rbm: RBM, calibration: Calibration, config: STPSweepConfig | None = None, *,
              data: EvaluationData | None = None, out_dir: Path | None = None, log=None,
              **params) -> dict:
    """Grid over U × tau_rec of ``config`` (or ``STPSweepConfig(**params)``); returns
    {"grid": [...], "U": [...], "tau_rec_ms": [...], ...}."""
    cfg = check.configured(STPSweepConfig, config, params)
    U_values, tau_values = list(cfg.U_values), list(cfg.tau_values)
    n_samples, chains, pilot_ms = cfg.n_samples, cfg.chains, cfg.pilot_ms
    seed, device = cfg.seed, cfg.device
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
