"""The built-in demo: LIF sampling of a small Boltzmann machine beside Gibbs sampling.

Runs on shipped defaults (no data download) in well under two minutes on 2 CPU cores and
writes its figures to ``out_dir``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..boltzmann import exact_distribution
from ..plots import new_figure, plot_activation, save_figure
from .small_bm import default_calibration, plot_kl_curves, run_small_bms, uniform_bm


def small_bm_demo(out_dir: Path, seed: int = 0, device: str = "auto",
                  duration_ms: float = 20_000.0) -> dict:
    """Calibration plot, D_KL vs time and the sampled vs exact distribution of a 5-unit BM."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cal = default_calibration()
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


def run_demo(out_dir: Path, seed: int = 0, device: str = "auto") -> dict:
    """Everything the ``lifsampling demo`` command shows; returns the numbers it prints."""
    return {"small_bm": small_bm_demo(Path(out_dir) / "small_bm", seed=seed, device=device)}
