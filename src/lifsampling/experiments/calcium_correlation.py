"""Correlated spiking speeds up BiCaLL learning at unchanged rates and hyperparameters.

Research note §3 ("correlated spiking modulates learning rate"; the paper's own set-up was not
available, so this one is *chosen*): B independent copies of a recurrent network of N
excitatory LIF neurons (``params.MNIST_NEURON``, run by ``engine.simulate``), all-to-all plastic
BiCaLL synapses in its plasticity slot (no self-connections, conductance ``g_rec_uS`` x binary
weight, one weight matrix per copy), independent Poisson background per neuron and a DC
current. Two conditions:

- ``oscillation``: a common subthreshold current ``amp_nA`` sin(2 pi f t) added to every neuron
  (0.1 nA moves the free membrane by about amp / g_tot = 4.4 mV; the mean free membrane
  is about 4 mV below threshold, so spikes need the background fluctuations), which
  synchronises the spikes to its phase;
- ``none``: no oscillation; its DC current is found by bisection so that the mean firing rate
  matches the oscillating condition within ``rate_tol`` (5 %).

BiCaLL hyperparameters are the defaults (LR3 '2.0' + tau_b 350 s, stop-learning on), identical
in both. Hidden weights start uniform in [0, 1]. Measured: the rate of weight change as flips of
the binary weight (crossings of theta_b = 0.5) per synapse per second, the mean |Δw_hidden| per
second, over 2 s (longer runs saturate: at ~16 Hz nearly all synapses end UP in 10 s in
both conditions, which hides the speed difference), and the spike synchrony (variance of the
population rate / mean of single-neuron variances, in 5 ms bins); the answer is the ratio
oscillation / none.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from ..engine import Network, Record, StepView, simulate
from ..params import ADDITIVE, MNIST_NEURON, NoiseParams
from ..plasticity.calcium import BiCaLL, BiCaLLParams
from ..plasticity.projection import PlasticProjection


@dataclass(frozen=True)
class CorrelationConfig:
    n: int = 100
    batch: int = 8
    duration_ms: float = 2_000.0
    dt_ms: float = 0.5
    noise_rate_hz: float = 2000.0  # exc and inh background rate per neuron
    w_noise_exc_uS: float = 0.0005
    w_noise_inh_uS: float = 0.0005
    dc_nA: float = -0.05
    amp_nA: float = 0.1
    freq_hz: float = 10.0
    g_rec_uS: float = 0.00005
    rate_tol: float = 0.05
    seed: int = 0
    device: str = "cpu"


class _FlipCounter:
    """Recorder: crossings of theta_b by the hidden weights (binary flips), step by step."""

    def __init__(self, rule: BiCaLL, w0: torch.Tensor, mask: torch.Tensor) -> None:
        self.rule, self.mask = rule, mask
        self.up = w0 > rule.p.theta_bistable
        self.flips = torch.zeros((), device=w0.device)

    def __call__(self, view: StepView) -> None:
        up = self.rule.is_up(view.plasticity_state.synapses)
        self.flips = self.flips + ((up != self.up).float() * self.mask).sum()
        self.up = up


def run_network(cfg: CorrelationConfig, dc_nA: float, amp_nA: float, duration_ms: float,
                seed: int, learn: bool = True) -> dict:
    """Simulate B network copies with ``engine.simulate``; returns rates, weight flips and
    synchrony. The currents enter as leak shifts: I = dc + amp sin(2 pi f t) moves the
    membrane's fixed point like a leak potential E_l + I / g_l."""
    dev = torch.device(cfg.device)
    gen = torch.Generator(device=dev).manual_seed(seed)
    n, b, dt = cfg.n, cfg.batch, cfg.dt_ms
    g_l = MNIST_NEURON.g_leak_uS
    e_leak = torch.full((n,), MNIST_NEURON.e_leak_mV + dc_nA / g_l, device=dev)
    noise = NoiseParams(rate_exc_hz=cfg.noise_rate_hz, rate_inh_hz=cfg.noise_rate_hz,
                        w_exc_uS=cfg.w_noise_exc_uS, w_inh_uS=cfg.w_noise_inh_uS)
    net = Network(weights_uS=torch.zeros(n, n), e_leak_mV=e_leak, neuron=MNIST_NEURON,
                  noise=noise, synapse=ADDITIVE)
    rule = BiCaLL(BiCaLLParams())
    w0 = torch.rand(b, n, n, generator=gen, device=dev)
    no_self = 1.0 - torch.eye(n, device=dev)
    flips = _FlipCounter(rule, w0, no_self)
    schedule = None
    if amp_nA:
        def schedule(t_ms: float) -> torch.Tensor:
            return e_leak + amp_nA / g_l * math.sin(2 * math.pi * cfg.freq_hz * t_ms * 1e-3)
    res = simulate(net, duration_ms, chains=b, dt_ms=dt, seed=seed + 1, device=dev,
                   record=Record(spikes=True), e_leak_schedule=schedule,
                   plasticity=PlasticProjection(rule, w0, cfg.g_rec_uS, pre="network",
                                                mask=no_self, learn=learn),
                   recorders=[flips] if learn else [])
    ps = res.plasticity_state.synapses
    # population synchrony in 5 ms bins (a trailing partial bin is dropped)
    bin_steps = round(5.0 / dt)
    n_bins = round(duration_ms / dt) // bin_steps
    st, ch, ids = res.spikes
    keep = st < n_bins * bin_steps
    x = torch.zeros(n_bins * b * n, dtype=torch.float64)
    x.index_add_(0, ((st[keep] // bin_steps) * b + ch[keep]) * n + ids[keep],
                 torch.ones(int(keep.sum()), dtype=torch.float64))
    x = x.view(n_bins, b, n)  # (T, B, N)
    pop = x.mean(-1)
    sync = float((pop.var(0) / x.var(0).mean(-1).clamp(min=1e-12)).mean())
    n_syn = b * n * (n - 1)
    sec = duration_ms * 1e-3
    dw = ((ps.w - w0).abs() * no_self).sum() / n_syn / sec
    return {"rate_hz": float(res.spike_counts.double().mean() / sec), "flips_per_synapse_per_s":
            float(flips.flips / n_syn / sec), "mean_abs_dw_per_s": float(dw), "synchrony": sync,
            "fraction_up_end": float((rule.is_up(ps).float() * no_self).sum() / n_syn)}


def run_correlation(cfg: CorrelationConfig, progress: bool = True) -> dict:
    """Oscillation vs none with matched rates; returns both runs and their ratios."""
    t0 = time.perf_counter()
    osc = run_network(cfg, cfg.dc_nA, cfg.amp_nA, cfg.duration_ms, cfg.seed)
    target = osc["rate_hz"]
    lo, hi = cfg.dc_nA - 0.05, cfg.dc_nA + 0.15
    short = replace(cfg, batch=max(2, cfg.batch // 2))
    for _ in range(10):  # bisection on the DC current of the non-oscillating network
        mid = 0.5 * (lo + hi)
        r = run_network(short, mid, 0.0, 2000.0, cfg.seed + 1)["rate_hz"]
        if progress:
            print(f"bisection dc={mid:.4f} nA rate={r:.2f} Hz (target {target:.2f})", flush=True)
        if abs(r - target) < 0.01 * target:
            break
        lo, hi = (mid, hi) if r < target else (lo, mid)
    dc_none = mid
    none = run_network(cfg, dc_none, 0.0, cfg.duration_ms, cfg.seed)
    for _ in range(4):  # correct with the full-length run if needed
        if abs(none["rate_hz"] - target) <= cfg.rate_tol * target:
            break
        dc_none += (target - none["rate_hz"]) / target * 0.02
        none = run_network(cfg, dc_none, 0.0, cfg.duration_ms, cfg.seed)
    res = {
        "oscillation": osc, "none": none, "dc_none_nA": dc_none,
        "rate_mismatch": none["rate_hz"] / target - 1,
        "ratio_flips": osc["flips_per_synapse_per_s"] / max(1e-12,
                                                            none["flips_per_synapse_per_s"]),
        "ratio_mean_abs_dw": osc["mean_abs_dw_per_s"] / max(1e-12, none["mean_abs_dw_per_s"]),
        "config": asdict(cfg), "wall_s": round(time.perf_counter() - t0, 1),
    }
    return res


def plot_correlation(res: dict, path: str | Path) -> None:
    """Bar chart: rate, synchrony and weight-change rate, oscillation vs none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [("rate_hz", "firing rate (Hz)"), ("synchrony", "synchrony (pop. var ratio)"),
            ("flips_per_synapse_per_s", "binary flips / synapse / s"),
            ("mean_abs_dw_per_s", "mean |Δw_hidden| / s")]
    fig, ax = plt.subplots(1, 4, figsize=(12, 3.0))
    for a, (k, lab) in zip(ax, keys, strict=True):
        v = [res["oscillation"][k], res["none"][k]]
        a.bar(["oscillation", "none"], v, color=["C3", "C0"])
        a.set_title(lab, fontsize=9)
    fig.suptitle(f"BiCaLL, same hyperparameters: flip-rate ratio {res['ratio_flips']:.2f}, "
                 f"rate mismatch {100 * res['rate_mismatch']:+.1f} %", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
