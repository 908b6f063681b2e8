"""Figures and JSON for the plasticity protocols (STDP window, Sjöström frequency, rate map).

Runs :mod:`lifsampling.plasticity.protocols` for BiCaLL and Graupner–Brunel (GB 'DP' set) side by
side. BiCaLL is deterministic for prescribed spike times, so besides its binary readout
(dw_effective, the change of the mean effective weight of a half-UP population) the figures show
its *graded* hidden-weight change with bistability and clipping switched off (the summed
spike-triggered updates of the whole protocol), which is the rule's learning window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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


# --------------------------------------------------------------------------------------------
# the commands' configs: plasticity-protocol and plasticity-figures
# --------------------------------------------------------------------------------------------
def _rates(name: str, values, *, positive: bool):
    """None, or a non-empty tuple of finite rates (Hz), > 0 (``positive``) or >= 0."""
    import math

    if values is None:
        return None
    vals = tuple(values)
    if not vals or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must be a non-empty list of finite numbers (Hz), got "
                         f"{list(vals)}")
    if positive and any(v <= 0 for v in vals):
        raise ValueError(f"{name} must be > 0 Hz")
    if not positive and any(v < 0 for v in vals):
        raise ValueError(f"{name} must be >= 0 Hz")
    return tuple(float(v) for v in vals)


def _positive_reps(reps) -> None:
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer) or reps <= 0:
        raise ValueError(f"reps must be a whole number > 0, got {reps!r}")


def _positive_duration(duration_ms) -> None:
    import math

    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int | float) \
            or not math.isfinite(duration_ms) or duration_ms <= 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")


@dataclass(frozen=True)
class ProtocolConfig:
    """One plasticity protocol on single synapses driven by prescribed spike trains.

    ``protocol``: stdp, frequency or rate; ``rule``: bicall or graupner-brunel (``gb_preset``:
    DP, cortical or hippocampal). ``dts_ms``: spike-time differences (ms; stdp: default
    -100..100 step 5, frequency: 10, -10); ``freqs_hz``: pairing frequencies of the frequency
    protocol (> 0 Hz; default 0.1, 10, 20, 40, 50); ``rates_hz``: pre and post rates of the rate
    protocol (>= 0 Hz; default 1..80); ``duration_ms``: rate-protocol trial (ms, > 0);
    ``reps`` (> 0) independent repetitions per condition; ``seed``, ``device``."""

    protocol: str
    rule: str = "bicall"
    gb_preset: str = "DP"
    dts_ms: tuple[float, ...] | None = None
    freqs_hz: tuple[float, ...] | None = None
    rates_hz: tuple[float, ...] | None = None
    duration_ms: float = 1000.0
    reps: int = 100
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from ..plasticity import GB_PRESETS, PROTOCOLS, RULES
        from ._validate import device, whole

        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; use one of "
                             f"{', '.join(PROTOCOLS)}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; use one of {', '.join(RULES)}")
        if self.gb_preset not in GB_PRESETS:
            raise ValueError(f"gb_preset must be one of {', '.join(GB_PRESETS)}, got "
                             f"{self.gb_preset!r}")
        if self.dts_ms is not None:
            dts = tuple(self.dts_ms)
            if not dts or not all(isinstance(v, int | float) and not isinstance(v, bool)
                                  and np.isfinite(v) for v in dts):
                raise ValueError(f"dts_ms must be a non-empty list of finite numbers (ms), "
                                 f"got {list(dts)}")
            object.__setattr__(self, "dts_ms", tuple(float(v) for v in dts))
        object.__setattr__(self, "freqs_hz", _rates("freqs_hz", self.freqs_hz, positive=True))
        object.__setattr__(self, "rates_hz", _rates("rates_hz", self.rates_hz, positive=False))
        _positive_duration(self.duration_ms)
        _positive_reps(self.reps)
        whole("seed", self.seed, at_least=0)
        device(self.device)

    def build_rule(self):
        """The rule object (``plasticity.make_rule``)."""
        return make_rule(self.rule, gb_preset=self.gb_preset)

    def describe(self) -> dict:
        """The config and the rule's parameters (for a run's config.json)."""
        from dataclasses import asdict

        return {**asdict(self), "rule_params": self.build_rule().describe()}


def run_protocol(config: ProtocolConfig) -> dict:
    """The protocol's table (its conditions and ``p_potentiation``, ``p_depression``,
    ``dw_effective``, ``dw_hidden_mean``), with ``wall_s`` and the rule's ``params``."""
    r = config.build_rule()
    common = {"reps": config.reps, "seed": config.seed, "device": config.device}
    t0 = time.perf_counter()
    if config.protocol == "stdp":
        res = stdp_protocol(r, config.dts_ms, **common)
    elif config.protocol == "frequency":
        kw = {"freqs_hz": config.freqs_hz} if config.freqs_hz else {}
        if config.dts_ms:
            kw["dts_ms"] = config.dts_ms
        res = frequency_protocol(r, **common, **kw)
    else:
        kw = ({"pre_rates_hz": config.rates_hz, "post_rates_hz": config.rates_hz}
              if config.rates_hz else {})
        res = rate_protocol(r, duration_ms=config.duration_ms, **common, **kw)
    res["wall_s"] = round(time.perf_counter() - t0, 3)
    res["params"] = r.describe()
    return res


@dataclass(frozen=True)
class FiguresConfig:
    """All protocol figures: ``reps`` (> 0) repetitions per protocol condition (the rate grid
    twice as many); ``correlation``: also the correlated-spiking experiment, ``duration_ms``
    (ms, > 0) of simulated time per run; ``device`` (auto: CUDA where present)."""

    reps: int = 100
    correlation: bool = True
    duration_ms: float = 2_000.0
    device: str = "auto"

    def __post_init__(self) -> None:
        from ._validate import device

        _positive_reps(self.reps)
        _positive_duration(self.duration_ms)
        device(self.device)


def run_figures(config: FiguresConfig, out_dir: str | Path, figures: str | Path, *,
                progress: bool = False) -> dict:
    """:func:`run_all` into ``out_dir`` and ``figures``, then (``config.correlation``) the
    correlated-spiking experiment (``calcium_correlation.json`` and its figure); returns the
    summary: ``protocols_wall_s`` and the correlation's ``ratio_flips``, ``ratio_mean_abs_dw``,
    ``rate_mismatch`` and ``rate_hz`` (oscillation, none)."""
    import torch

    res = run_all(out_dir, reps=config.reps, device=config.device, figures=figures)
    summary = {"protocols_wall_s": res["wall_s"]}
    if config.correlation:
        from ..io import write_json
        from .calcium_correlation import CorrelationConfig, plot_correlation, run_correlation

        dev = config.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        cres = run_correlation(CorrelationConfig(duration_ms=config.duration_ms, device=dev),
                               progress=progress)
        write_json(Path(out_dir) / "calcium_correlation.json", cres)
        plot_correlation(cres, Path(figures) / "calcium_correlation.png")
        summary.update({k: cres[k] for k in ("ratio_flips", "ratio_mean_abs_dw",
                                              "rate_mismatch")})
        summary["rate_hz"] = [cres["oscillation"]["rate_hz"], cres["none"]["rate_hz"]]
    return summary
