"""Sweep of the STP parameters (U_SE, tau_rec): sample quality against mixing (docs/stp.md §4).

For every (U, tau_rec) and every seed the synapses are renormalised on a pilot run
(:func:`lifsampling.spiking_rbm.renormalise_stp`), the network dreams from the seed's start
states for ``n_samples`` × 10 ms, and the mixing table of :mod:`.stp_mixing` is computed; a
cell is the mean over seeds with its bootstrap 95 % interval (``<key>_ci95``).
Heat maps: k-NN precision (quality) against mode switches per 1,000 samples (mixing) and
mean pixel; the statistics are :func:`lifsampling.comparison.sample_statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boltzmann import RBM
from ..calibration import Calibration
from ..comparison import EvaluationData, mean_ci95, sample_statistics
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
    (>= 3) per chain on ``chains`` (>= 1) chains for every one of ``seeds`` on ``device``.
    Validated on construction (ValueError naming the field)."""

    U_values: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3)
    tau_values: tuple[float, ...] = (50.0, 280.0, 1000.0)
    n_samples: int = 300
    chains: int = 4
    pilot_ms: float = 500.0
    seeds: tuple[int, ...] = (0,)
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
        set_(self, "seeds", check.seeds("seeds", self.seeds))
        check.device(self.device)


def run_sweep(rbm: RBM, calibration: Calibration, config: STPSweepConfig | None = None, *,
              data: EvaluationData | None = None, out_dir: Path | None = None, log=None,
              **params) -> dict:
    """Grid over U × tau_rec of ``config`` (or ``STPSweepConfig(**params)``); returns
    {"grid": [...], "U": [...], "tau_rec_ms": [...], ...}."""
    cfg = check.configured(STPSweepConfig, config, params)
    U_values, tau_values = list(cfg.U_values), list(cfg.tau_values)
    data = data or default_data(rbm)
    grid, per_seed = [], []
    for u in U_values:
        for tau in tau_values:
            rows = [_cell(rbm, calibration, cfg, data, u, tau, seed) for seed in cfg.seeds]
            per_seed += rows
            row = {"U": u, "tau_rec_ms": tau, "seeds": len(rows),
                   "weight_scale": float(np.mean([r["weight_scale"] for r in rows]))}
            for k in ROW_KEYS:
                m, ci = mean_ci95([r[k] for r in rows])
                row[k], row[f"{k}_ci95"] = m, ci
            grid.append(row)
            if log:
                log(row)
    result = {"grid": grid, "per_seed": per_seed, "U": U_values, "tau_rec_ms": tau_values,
              "n_samples": cfg.n_samples, "chains": cfg.chains, "pilot_ms": cfg.pilot_ms,
              "seeds": list(cfg.seeds), "data_mean_pixel": data.data_mean_pixel}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "stp_sweep.json", result)
        plot_sweep(result, out_dir / "stp_sweep.png")
    return result


def _cell(rbm: RBM, calibration: Calibration, cfg: STPSweepConfig, data: EvaluationData,
          u: float, tau: float, seed: int) -> dict:
    """One (U, tau_rec, seed): renormalised on a pilot, dreamt from the seed's starts, burn-in
    dropped (the harness's 10 %), scored."""
    init = data.starts(cfg.chains, seed)
    burn = max(1, cfg.n_samples // 9)
    syn, _ = renormalise_stp(rbm, calibration, u, tau, pilot_ms=cfg.pilot_ms, iterations=1,
                             seed=seed + 1000, device=cfg.device)
    sampler = SpikingRBMSampler(calibration, syn, device=cfg.device,
                                burn_in_ms=calibration.neuron.tau_ref_ms)
    s = sampler.sample(rbm, cfg.n_samples + burn, chains=cfg.chains, seed=seed, init=init)
    s = s[:, burn:]
    st = sample_statistics(s[..., :784].numpy(), data, rbm=rbm,
                           visible=s[..., :rbm.n_visible].numpy(), seed=seed)
    return {"U": u, "tau_rec_ms": tau, "seed": seed, "weight_scale": syn.weight_scale,
            **{k: st[k] for k in ROW_KEYS}}


def plot_sweep(result: dict, path: Path) -> None:
    """Heat maps of mixing and quality over (U, tau_rec), means over the seeds."""
    U, T = result["U"], result["tau_rec_ms"]
    fig, axes = new_figure(1, len(HEAT_KEYS), figsize=(4.2 * len(HEAT_KEYS), 3.6))
    n_seeds = len(result.get("seeds", [0]))
    fig.suptitle(f"{result['chains']} chains x {result['n_samples']} samples, mean over "
                 f"{n_seeds} seed{'s' if n_seeds > 1 else ''}", fontsize=9)
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
