r"""A LIF network mapped at rate nu0 and run at a constant balanced rate nu
samples the *tempered* Boltzmann distribution p_beta(z) ∝ exp(beta(nu) [½ zᵀWz + bᵀz]).

Small random machines (W, b uniform in [-1, 1], exact enumeration) are mapped once with the
calibration taken at the reference rate nu0; the network then runs at several constant rates,
with the leak potentials shifted by u0(nu) - u0(nu0) (midpoint compensation,
:meth:`lifsampling.temperature.TemperatureMap.leak_shift`). For every rate we report

* D_KL(p_beta(nu) || q): the sampled distribution q against the predicted tempered target;
* D_KL(p_1 || q): against the untempered target (what one would get without tempering);
* beta_hat: the beta minimising D_KL(p_beta || q) (golden section on [0.1, 4]);
* beta_hat / beta_hat(nu0): the measured inverse temperature relative to the reference rate,
  which cancels the mapping's own error at nu0, against beta(nu) = alpha(nu0)/alpha(nu).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..boltzmann import BoltzmannMachine, exact_distribution
from ..calibration import Calibration
from ..engine import Record, simulate
from ..mapping import bm_to_network
from ..metrics import kl_divergence, state_histogram
from ..plots import new_figure, save_figure
from ..temperature import TemperatureMap, balanced_noise
from .small_bm import block_diagonal, uniform_bm


def tempered(m: BoltzmannMachine, beta: float) -> BoltzmannMachine:
    """The machine at inverse temperature ``beta``: (beta W, beta b)."""
    return BoltzmannMachine(beta * m.W, beta * m.b)


def fit_beta(m: BoltzmannMachine, q: torch.Tensor, lo: float = 0.1, hi: float = 4.0,
             iters: int = 40) -> tuple[float, float]:
    """(beta, D_KL(p_beta || q)) minimising the divergence, by golden-section search."""
    g = (np.sqrt(5) - 1) / 2

    def f(b: float) -> float:
        return kl_divergence(exact_distribution(tempered(m, b)), q)

    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    x = 0.5 * (a + b)
    return float(x), f(x)


def sample_at_rate(machines: list[BoltzmannMachine], calibration: Calibration,
                   tmap: TemperatureMap, rate_hz: float, *, duration_ms: float, chains: int,
                   seed: int = 0, read_ms: float = 1.0, compensate: bool = True,
                   device: str = "cpu") -> list[torch.Tensor]:
    """Sampled joint distributions (one per machine) at a constant balanced ``rate_hz``."""
    W, b = block_diagonal(machines)
    net = bm_to_network(W, b, calibration, noise=balanced_noise(rate_hz, calibration.noise))
    if compensate:
        net = replace(net, e_leak_mV=net.e_leak_mV + float(tmap.leak_shift(rate_hz)))
    res = simulate(net, duration_ms, chains=chains, burn_in_ms=200.0, seed=seed, device=device,
                   record=Record(z_every_ms=read_ms))
    z = res.z_samples.double().permute(1, 0, 2)  # (B, S, N)
    out, start = [], 0
    for m in machines:
        out.append(state_histogram(z[:, :, start:start + m.n]))
        start += m.n
    return out


def run(calibration: Calibration, tmap: TemperatureMap, rates_hz, *, units: int = 5,
        machines: int = 4, duration_ms: float = 10_000.0, chains: int = 10, seed: int = 0,
        device: str = "cpu", progress=None) -> dict:
    """D_KL table over ``rates_hz`` (the reference rate is added if missing)."""
    nu0 = float(calibration.noise.rates_at(0.0)[0])
    tmap = tmap.with_reference(nu0)
    rates = sorted(set(float(r) for r in rates_hz) | {nu0})
    ms = [uniform_bm(units, seed=1000 + seed + i) for i in range(machines)]
    rows = []
    fitted: dict[float, list[float]] = {}
    for k, r in enumerate(rates):
        qs = sample_at_rate(ms, calibration, tmap, r, duration_ms=duration_ms, chains=chains,
                            seed=seed + k, device=device)
        beta = float(tmap.beta(r))
        kl_t, kl_1, bh = [], [], []
        for m, q in zip(ms, qs, strict=True):
            kl_t.append(kl_divergence(exact_distribution(tempered(m, beta)), q))
            kl_1.append(kl_divergence(exact_distribution(m), q))
            bh.append(fit_beta(m, q)[0])
        fitted[r] = bh
        rows.append({"rate_hz": r, "beta_predicted": beta,
                     "beta_weights_predicted": float(tmap.beta_weights(r)[0]),
                     "kl_tempered_median": float(np.median(kl_t)),
                     "kl_untempered_median": float(np.median(kl_1)),
                     "kl_tempered": kl_t, "kl_untempered": kl_1, "beta_hat": bh})
        if progress:
            progress(f"{r:7.0f} Hz beta={beta:.3f} beta_hat={np.median(bh):.3f} "
                     f"KL(p_beta||q)={np.median(kl_t):.4f} KL(p_1||q)={np.median(kl_1):.4f}")
    ref = np.asarray(fitted[nu0])
    for row in rows:
        rel = np.asarray(row["beta_hat"]) / ref
        row["beta_hat_relative"] = rel.tolist()
        row["beta_hat_relative_median"] = float(np.median(rel))
    return {"parameters": {"reference_rate_hz": nu0, "rates_hz": rates, "units": units,
                           "machines": machines, "duration_ms_per_chain": duration_ms,
                           "chains": chains, "seed": seed, "read_every_ms": 1.0,
                           "tmap_source": tmap.source},
            "table": rows}


def plot(result: dict, path) -> None:
    """D_KL against the tempered and untempered targets, and beta_hat against beta(nu)."""
    rows = result["table"]
    r = np.array([x["rate_hz"] for x in rows]) / 1000
    fig, (a1, a2) = new_figure(1, 2, figsize=(9, 3.5))
    a1.semilogy(r, [x["kl_tempered_median"] for x in rows], "o-",
                label=r"$D_{KL}(p_{\beta(\nu)}\,\|\,q)$")
    a1.semilogy(r, [x["kl_untempered_median"] for x in rows], "s--",
                label=r"$D_{KL}(p_{1}\,\|\,q)$")
    a1.set_xscale("log")
    a1.set_xlabel(r"constant balanced rate $\nu$ (kHz)")
    a1.set_ylabel("median over machines")
    a1.legend(frameon=False, fontsize=8)
    a2.loglog(r, [x["beta_predicted"] for x in rows], "-", label=r"$\beta(\nu)$ from alpha map")
    a2.loglog(r, [x["beta_hat_relative_median"] for x in rows], "o",
              label=r"fitted $\hat\beta(\nu)/\hat\beta(\nu_0)$")
    a2.loglog(r, [x["beta_hat"] for x in rows], "x", color="C2", alpha=0.5)
    a2.set_xlabel(r"$\nu$ (kHz)")
    a2.set_ylabel(r"inverse temperature (x: per machine $\hat\beta$)")
    a2.legend(frameon=False, fontsize=8)
    save_figure(fig, path)
