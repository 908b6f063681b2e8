"""HCS theory (:mod:`lifsampling.hcs`) against simulated activation functions.

For every configuration of a grid (background rate x noise weight x tau_syn/tau_ref, plus
optional low-conductance neurons with a long tau_m) the engine measures p(z=1) of unconnected
neurons on a leak-potential grid (time fraction refractory, pooled over independent chains; the
standard error comes from the spread across chains) and the theory predicts it on the same grid.
Reported per curve: max |p_theory - p_sim|, the largest deviation in units of the simulation's
standard error, the HCS indicators tau_eff/tau_syn and g_syn/g_l, and the logistic fits of both
curves (u0, alpha, max fit residual). Also: the theory-only calibration on the small-Boltzmann-
machine D_KL test (:func:`kl_comparison`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from .. import hcs
from ..calibration import Calibration, fit_logistic, logistic
from ..engine import Network, simulate
from ..params import SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE, NeuronParams, NoiseParams
from ..plots import new_figure, save_figure
from . import _validate as check


@dataclass(frozen=True)
class CurveConfig:
    """One activation curve: exc = inh background ``rate_hz`` with jumps ``weight_nS`` (nS),
    tau_syn (exc = inh), tau_ref and tau_m in ms; the rest is the sbs tutorial neuron."""

    rate_hz: float
    weight_nS: float
    tau_syn_ms: float = 10.0
    tau_ref_ms: float = 10.0
    tau_m_ms: float = 1.0

    def validate(self) -> None:
        if not (np.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"background rate must be > 0 Hz, got {self.rate_hz}")
        if not (np.isfinite(self.weight_nS) and self.weight_nS > 0):
            raise ValueError(f"noise weight must be > 0 nS, got {self.weight_nS}")
        for name in ("tau_syn_ms", "tau_ref_ms", "tau_m_ms"):
            val = getattr(self, name)
            if not (np.isfinite(val) and val > 0):
                raise ValueError(f"{name} must be > 0 ms, got {val}")

    @property
    def name(self) -> str:
        return (f"nu={self.rate_hz / 1e3:g}kHz w={self.weight_nS:g}nS "
                f"tau_syn/tau_ref={self.tau_syn_ms / self.tau_ref_ms:g} tau_m={self.tau_m_ms:g}ms")

    def neuron(self) -> NeuronParams:
        return replace(SBS_TUTORIAL_NEURON, tau_syn_exc_ms=self.tau_syn_ms,
                       tau_syn_inh_ms=self.tau_syn_ms, tau_ref_ms=self.tau_ref_ms,
                       tau_m_ms=self.tau_m_ms)

    def noise(self) -> NoiseParams:
        w = self.weight_nS * 1e-3
        return replace(SBS_TUTORIAL_NOISE, rate_exc_hz=self.rate_hz, rate_inh_hz=self.rate_hz,
                       w_exc_uS=w, w_inh_uS=w)


@dataclass(frozen=True)
class HCSCompareConfig:
    """The comparison of ``lifsampling hcs-compare``: curves over ``rates_hz`` (Hz) x
    ``weights_nS`` (nS) x ``ratios`` tau_syn/tau_ref (all > 0) at ``tau_syn_ms`` (ms, > 0),
    plus tau_m = 10 ms curves at 1 nS where ``low_conductance``; each curve ``points`` (>= 5)
    leak potentials over ``e_leak_range_mV`` ((low, high), low < high; None: the theory's
    default range), ``duration_ms`` (ms, > 0) per point and chain on ``chains`` (>= 2, for the
    standard error), step ``dt_ms`` (ms, > 0), ``seed``. ``curves``: simulate them; ``theory``:
    plot the theory alone; ``kl``: the D_KL test on ``kl_machines`` (>= 1) 5-unit machines for
    ``kl_duration_ms`` (ms, > 0) each. Validated on construction (ValueError naming the
    field)."""

    rates_hz: tuple[float, ...] = (1000.0, 3000.0, 10000.0)
    weights_nS: tuple[float, ...] = (1.0, 2.0)
    ratios: tuple[float, ...] = (1.0, 2.0)
    tau_syn_ms: float = 10.0
    low_conductance: bool = True
    points: int = 25
    duration_ms: float = 20_000.0
    chains: int = 64
    e_leak_range_mV: tuple[float, float] | None = None
    dt_ms: float = 0.1
    seed: int = 0
    curves: bool = True
    theory: bool = False
    kl: bool = False
    kl_machines: int = 10
    kl_duration_ms: float = 100_000.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, unit in (("rates_hz", " Hz"), ("weights_nS", " nS"), ("ratios", "")):
            vals = getattr(self, name)
            if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__") or not vals:
                raise ValueError(f"{name} must be a non-empty list of numbers, got {vals!r}")
            vals = tuple(check.number(name, v) for v in vals)
            if any(v <= 0 for v in vals):
                raise ValueError(f"{name} must all be > 0{unit}, got {list(vals)}")
            set_(self, name, vals)
        set_(self, "tau_syn_ms", check.number("tau_syn_ms", self.tau_syn_ms, above=0.0))
        set_(self, "points", check.whole("points", self.points, at_least=5))
        set_(self, "duration_ms", check.number("duration_ms", self.duration_ms, above=0.0))
        if check.whole("chains", self.chains) < 2:
            raise ValueError(f"chains must be >= 2 (the standard error needs them), got "
                             f"{self.chains}")
        if self.e_leak_range_mV is not None:
            lo, hi = (check.number("e_leak_range_mV", v) for v in self.e_leak_range_mV)
            if not lo < hi:
                raise ValueError(f"empty leak-potential range [{lo:g}, {hi:g}] mV: the low end "
                                 "must be below the high end")
            set_(self, "e_leak_range_mV", (lo, hi))
        set_(self, "dt_ms", check.number("dt_ms", self.dt_ms, above=0.0))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))
        set_(self, "kl_machines", check.whole("kl_machines", self.kl_machines, at_least=1))
        set_(self, "kl_duration_ms", check.number("kl_duration_ms", self.kl_duration_ms,
                                                  above=0.0))
        for name in ("low_conductance", "curves", "theory", "kl"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not (self.curves or self.kl or self.theory):
            raise ValueError("nothing to do: curves, kl and theory are all off")

    def curve_configs(self) -> list[CurveConfig]:
        """The curves: every ratio x weight x rate, then the low-conductance ones."""
        out = [CurveConfig(r, w, self.tau_syn_ms, self.tau_syn_ms / q) for q in self.ratios
               for w in self.weights_nS for r in self.rates_hz]
        if self.low_conductance:
            out += [CurveConfig(r, 1.0, self.tau_syn_ms, self.tau_syn_ms, 10.0)
                    for r in self.rates_hz]
        return out


def default_grid(rates_hz=(1000.0, 3000.0, 10000.0), weights_nS=(1.0, 2.0),
                 ratios=(1.0, 2.0), tau_syn_ms: float = 10.0, low_conductance: bool = True,
                 ) -> list[CurveConfig]:
    """rates x weights x tau_syn/tau_ref (tau_syn fixed, tau_ref = tau_syn / ratio) with the
    tutorial neuron (tau_m = 1 ms), plus, if ``low_conductance``, the same rates at 1 nS with
    tau_m = 10 ms (g_l = 0.02 µS), where tau_eff approaches tau_syn."""
    grid = [CurveConfig(r, w, tau_syn_ms, tau_syn_ms / q) for q in ratios for w in weights_nS
            for r in rates_hz]
    if low_conductance:
        grid += [CurveConfig(r, 1.0, tau_syn_ms, tau_syn_ms, 10.0) for r in rates_hz]
    for c in grid:
        c.validate()
    return grid


def simulate_activation(neuron: NeuronParams, noise: NoiseParams, e_leak_mV: np.ndarray, *,
                        duration_ms: float, chains: int, burn_in_ms: float = 500.0,
                        dt_ms: float = 0.1, seed: int = 0, device: str = "cpu",
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Simulated p(z=1) per leak potential and its standard error (spread over ``chains``
    independent runs of ``duration_ms`` each)."""
    if chains < 2:
        raise ValueError("chains must be >= 2 to estimate the standard error")
    e_l = torch.as_tensor(np.asarray(e_leak_mV, float), dtype=torch.float64)
    net = Network(weights_uS=torch.zeros(e_l.numel(), e_l.numel()), e_leak_mV=e_l,
                  neuron=neuron, noise=noise)
    res = simulate(net, duration_ms, chains=chains, burn_in_ms=burn_in_ms, dt_ms=dt_ms,
                   seed=seed, device=device)
    f = res.on_fraction.double().numpy()
    return f.mean(0), f.std(0, ddof=1) / np.sqrt(chains)


def compare_curve(cfg: CurveConfig, *, points: int = 25, duration_ms: float = 20_000.0,
                  chains: int = 64, dt_ms: float = 0.1, seed: int = 0, device: str = "cpu",
                  e_leak_range_mV: tuple[float, float] | None = None) -> dict:
    """Theory and simulation of one configuration on the same leak-potential grid
    (default range: :func:`lifsampling.hcs.default_leak_range`)."""
    cfg.validate()
    neuron, noise = cfg.neuron(), cfg.noise()
    lo, hi = e_leak_range_mV or hcs.default_leak_range(neuron, noise)
    if not lo < hi:
        raise ValueError(f"empty leak-potential range [{lo}, {hi}] mV")
    grid = np.linspace(lo, hi, points)
    t0 = time.perf_counter()
    p_th = hcs.activation(neuron, noise, grid, dt_ms=dt_ms)
    p_th0 = hcs.activation(neuron, noise, grid, dt_ms=dt_ms, synaptic_filtering=False)
    t_theory = time.perf_counter() - t0
    t0 = time.perf_counter()
    p_sim, se = simulate_activation(neuron, noise, grid, duration_ms=duration_ms, chains=chains,
                                    dt_ms=dt_ms, seed=seed, device=device)
    t_sim = time.perf_counter() - t0
    fm = hcs.free_membrane(neuron, noise, grid)
    fine = np.linspace(lo, hi, 201)
    p_fine = hcs.activation(neuron, noise, fine, dt_ms=dt_ms)
    fits = {}
    for key, (u, p) in {"theory": (fine, p_fine), "sim": (grid, p_sim)}.items():
        u0, alpha = fit_logistic(u, p)
        fits[key] = {"u0_mV": u0, "alpha_mV": alpha,
                     "max_fit_residual": float(np.abs(p - logistic(u, u0, alpha)).max())}
    err = p_th - p_sim
    g_syn = fm.g_tot_uS - neuron.g_leak_uS
    return {
        "name": cfg.name, "config": asdict(cfg),
        "tau_eff_over_tau_syn": fm.tau_eff_ms / cfg.tau_syn_ms,
        "g_syn_over_g_leak": g_syn / neuron.g_leak_uS,
        "sigma_eff_mV": float(np.median(fm.sigma_eff_mV)),
        "max_abs_error": float(np.abs(err).max()),
        "max_abs_error_no_filtering": float(np.abs(p_th0 - p_sim).max()),
        "max_abs_z": float(np.abs(err[se > 0] / se[se > 0]).max()) if (se > 0).any() else 0.0,
        "max_sim_se": float(se.max()),
        "e_leak_mV": grid.tolist(), "p_theory": p_th.tolist(),
        "p_theory_no_filtering": p_th0.tolist(), "p_sim": p_sim.tolist(), "p_sim_se": se.tolist(),
        "fit": fits, "theory_s": t_theory, "sim_s": t_sim,
        "sim": {"duration_ms": duration_ms, "chains": chains, "dt_ms": dt_ms, "seed": seed},
    }


def run_grid(configs: list[CurveConfig], *, progress: bool = False, **kw) -> list[dict]:
    """:func:`compare_curve` for every configuration (seeds seed, seed+1, ...)."""
    seed = kw.pop("seed", 0)
    out = []
    it = enumerate(configs)
    if progress:
        from rich.progress import track

        it = track(list(it), description="hcs-compare", transient=True)
    for k, cfg in it:
        out.append(compare_curve(cfg, seed=seed + k, **kw))
    return out


def plot_comparison(results: list[dict], path) -> None:
    """One panel per curve: simulation (points with 2 SE bars) and theory (with and without the
    synaptic-filtering correction), x = leak potential."""
    n = len(results)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, figsize=(3.6 * cols, 2.7 * rows), squeeze=False)
    for ax, r in zip(axes.ravel(), results, strict=False):
        u = np.asarray(r["e_leak_mV"])
        ax.errorbar(u, r["p_sim"], yerr=2 * np.asarray(r["p_sim_se"]), fmt="o", ms=2.5,
                    lw=0.8, label="simulation")
        ax.plot(u, r["p_theory"], "-", label="HCS theory")
        ax.plot(u, r["p_theory_no_filtering"], ":", color="gray", label="no filtering corr.")
        ax.set_title(f"{r['name']}\nmax|err|={r['max_abs_error']:.3f}", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    axes[0, 0].legend(frameon=False, fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("E_l (mV)", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("p(z=1)", fontsize=7)
    save_figure(fig, path)


def kl_comparison(calibration: Calibration, *, machines: int = 10, units: int = 5,
                  duration_ms: float = 100_000.0, chains: int = 10, seed: int = 0,
                  dt_ms: float = 0.1, device: str = "cpu") -> dict:
    """D_KL(p_target || p_LIF) on random ``units``-unit machines (W, b uniform in [-1, 1]) with
    the simulated ``calibration`` and with the theory-only calibration of the same neuron and
    background (same machines, same seed)."""
    from .small_bm import run_small_bms, uniform_bm

    theo = hcs.theory_calibration(
        calibration.neuron, calibration.noise, dt_ms=dt_ms,
        e_leak_range_mV=(calibration.e_leak_mV[0], calibration.e_leak_mV[-1]),
        points=len(calibration.e_leak_mV))
    theo = replace(theo, weight_scale_exc=calibration.weight_scale_exc,
                   weight_scale_inh=calibration.weight_scale_inh)
    bms = [uniform_bm(units, seed + k) for k in range(machines)]
    out = {}
    for key, cal in (("simulated", calibration), ("theory", theo)):
        res = run_small_bms(bms, cal, duration_ms=duration_ms, chains=chains, seed=seed,
                            device=device, curve_points=2)
        out[key] = {"u0_mV": cal.u0_mV, "alpha_mV": cal.alpha_mV,
                    "kl_median": float(np.median(res.kl_lif)), "kl_per_machine": res.kl_lif,
                    "marginals_max_err": float(np.max(res.marginals_max_err))}
    out.update(machines=machines, units=units, duration_ms=duration_ms, chains=chains,
               seed=seed)
    return out


def plot_theory(neuron: NeuronParams, noise: NoiseParams, path, *, dt_ms: float = 0.1,
                n_max: int = 12) -> dict:
    """Theory alone: activation with its logistic fit (and the tau_eff -> 0 limit), and seed
    000's burst-length probabilities P_n and quiescence times T_n at five leak potentials."""
    lo, hi = hcs.default_leak_range(neuron, noise)
    grid = np.linspace(lo, hi, 201)
    cal = hcs.theory_calibration(neuron, noise, e_leak_range_mV=(lo, hi), points=201,
                                 dt_ms=dt_ms)
    p0 = hcs.activation(neuron, noise, grid, dt_ms=dt_ms, synaptic_filtering=False)
    picks = cal.u0_mV + cal.alpha_mV * np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    bt = hcs.burst_theory(neuron, noise, picks, dt_ms=dt_ms, n_max=n_max)
    fig, (a1, a2, a3) = new_figure(1, 3, figsize=(11, 3.2))
    a1.plot(grid, cal.p_on, label="HCS theory")
    a1.plot(grid, cal.p(grid), "--", label=f"logistic fit (max res. {cal.max_residual:.3f})")
    a1.plot(grid, p0, ":", color="gray", label=r"no filtering corr. ($\tau_{eff}\to 0$)")
    a1.set_xlabel("E_l (mV)")
    a1.set_ylabel("p(z=1)")
    a1.legend(frameon=False, fontsize=7)
    n = np.arange(1, n_max + 1)
    for k, e in enumerate(picks):
        lab = f"E_l = u0 {(e - cal.u0_mV) / cal.alpha_mV:+.0f} alpha"
        a2.semilogy(n, bt.P_n[k], "o-", ms=3, label=lab)
        a3.semilogy(n, bt.T_n_ms[k], "o-", ms=3, label=lab)
    a2.set_xlabel("burst length n")
    a2.set_ylabel("P_n")
    a3.set_xlabel("burst length n")
    a3.set_ylabel("T_n (ms)")
    a2.legend(frameon=False, fontsize=7)
    save_figure(fig, path)
    return {"u0_mV": cal.u0_mV, "alpha_mV": cal.alpha_mV, "max_fit_residual": cal.max_residual,
            "mean_burst_spikes": bt.mean_burst_spikes.tolist(),
            "mean_quiescence_ms": bt.mean_quiescence_ms.tolist()}
