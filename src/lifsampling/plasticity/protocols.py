"""Plasticity protocols driven directly by prescribed spike trains (no neuron needed).

Each protocol builds, for a batch of B independent synapses (conditions x repetitions), padded
tensors of pre and post spike times (ms, +inf = no spike) and runs the rule event by event
(:func:`run_spike_trains`): between events the rule's ``advance`` integrates exactly, at events
``on_spikes`` applies the jumps. Cost O(events) tensor operations on (B, 1, 1) tensors, CPU or
CUDA.

Protocols (research note §3):

- STDP (Bi & Poo 1998; GB2012 Fig. 2): 60 pre/post pairs at 1 Hz, post at pre + dt.
- Frequency (Sjöström, Turrigiano & Nelson 2001): bursts of 5 pairings at f Hz with dt = +-10 ms,
  15 bursts, one burst every max(10 s, 5/f) (so at 0.1 Hz: 75 pairings 10 s apart).
- Rate: independent Poisson pre and post trains at (nu_pre, nu_post) for 1 s (the author's
  single-synapse harness, research note §2e), many repetitions.

Readouts per condition, from two populations run side by side: synapses starting DOWN (w = 0)
and UP (w = 1): p_potentiation = P(DOWN -> UP), p_depression = P(UP -> DOWN), and the change of
the mean effective state with half the synapses initially UP, dw_effective = (p_pot - p_dep)/2;
plus dw_hidden_mean, the mean change of the hidden weight from w0 = 0.5 (BiCaLL) or the mean
change of rho over the DOWN/UP population (GB); for GB also GB's change ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .calcium import BiCaLL, BiCaLLParams, PlasticityState
from .graupner_brunel import GB_PRESETS, GraupnerBrunel

RULES = ("bicall", "graupner-brunel")
PROTOCOLS = ("stdp", "frequency", "rate")


def make_rule(rule: str, *, gb_preset: str = "DP", params: BiCaLLParams | None = None):
    """``"bicall"`` or ``"graupner-brunel"`` (GB preset 'DP', 'cortical' or 'hippocampal').

    BiCaLL's default here has the stop-learning gate *off*: a single synapse in a pairing
    protocol at 1 Hz never brings the slow post trace into the learning window (one spike gives
    x_stop = 0.03 < theta_stop_low = 0.1), so with the gate on nothing would be learned.
    """
    if rule == "bicall":
        return BiCaLL(params or BiCaLLParams(stop_learning=False))
    if rule in ("graupner-brunel", "gb"):
        if gb_preset not in GB_PRESETS:
            raise ValueError(f"unknown Graupner-Brunel preset {gb_preset!r}; "
                             f"use one of {', '.join(GB_PRESETS)}")
        return GraupnerBrunel(GB_PRESETS[gb_preset])
    raise ValueError(f"unknown rule {rule!r}; use one of {', '.join(RULES)}")


def _device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:k]'")
    return torch.device(device)


def run_spike_trains(rule, state: PlasticityState, pre_ms: torch.Tensor, post_ms: torch.Tensor,
                     t_end_ms: float, generator: torch.Generator | None = None,
                     ) -> PlasticityState:
    """Drive B single synapses (state with N_pre = N_post = 1) by spike times.

    ``pre_ms`` (B, E_pre) and ``post_ms`` (B, E_post): spike times in ms, +inf for padding; the
    rule's presynaptic delay is added to the pre times. Events at the same instant: pre first.
    The state is then advanced to ``t_end_ms``.
    """
    b = pre_ms.shape[0]
    dev, dt = state.w.device, state.w.dtype
    times = torch.cat([pre_ms.to(dev, torch.float64) + rule.pre_delay_ms,
                       post_ms.to(dev, torch.float64)], dim=1)
    kinds = torch.cat([torch.zeros(pre_ms.shape, dtype=torch.bool, device=dev),
                       torch.ones(post_ms.shape, dtype=torch.bool, device=dev)], dim=1)
    times, order = torch.sort(times, dim=1, stable=True)  # stable: pre before post at ties
    kinds = torch.gather(kinds, 1, order)
    valid = torch.isfinite(times) & (times <= t_end_ms)
    t_prev = torch.zeros(b, dtype=torch.float64, device=dev)
    n_ev = int(valid.sum(dim=1).max()) if times.shape[1] else 0
    for k in range(n_ev):
        ok = valid[:, k]
        t = torch.where(ok, times[:, k], t_prev)
        state = rule.advance(state, (t - t_prev).to(dt), generator)
        t_prev = t
        pre = (ok & ~kinds[:, k]).unsqueeze(1)
        post = (ok & kinds[:, k]).unsqueeze(1)
        state = rule.on_spikes(state, pre, post)
    rest = (t_end_ms - t_prev).clamp(min=0).to(dt)
    return rule.advance(state, rest, generator)


def _readout(rule, pre_ms: torch.Tensor, post_ms: torch.Tensor, t_end_ms: float, n_cond: int,
             reps: int, gen: torch.Generator, dev: torch.device) -> dict:
    """Run DOWN, UP (and for BiCaLL w0 = 0.5) populations; reduce over repetitions."""
    b = pre_ms.shape[0]
    out = {}
    finals = {}
    starts = {"down": 0.0, "up": 1.0}
    if isinstance(rule, BiCaLL):
        starts["mid"] = rule.p.theta_bistable
    for key, w0 in starts.items():
        s = rule.init_state(b, 1, 1, w0, device=dev)
        s = run_spike_trains(rule, s, pre_ms, post_ms, t_end_ms, gen)
        finals[key] = s
    up_d = rule.is_up(finals["down"]).reshape(n_cond, reps).float()
    up_u = rule.is_up(finals["up"]).reshape(n_cond, reps).float()
    p_pot = up_d.mean(1)
    p_dep = 1 - up_u.mean(1)
    out["p_potentiation"] = p_pot
    out["p_depression"] = p_dep
    out["dw_effective"] = 0.5 * (p_pot - p_dep)
    if "mid" in finals:
        out["dw_hidden_mean"] = (finals["mid"].w.reshape(n_cond, reps) - starts["mid"]).mean(1)
    else:
        dw = 0.5 * (finals["down"].w.reshape(n_cond, reps) - 0.0) + \
            0.5 * (finals["up"].w.reshape(n_cond, reps) - 1.0)
        out["dw_hidden_mean"] = dw.mean(1)
        out["gb_change_ratio"] = rule.change_ratio(p_dep, p_pot)
    return {k: [round(float(x), 6) for x in v] for k, v in out.items()}


def _check_nonneg(name: str, values: Sequence[float]) -> None:
    for v in values:
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")


def _pairs(times_pre: list[float], dt: float) -> tuple[list[float], list[float]]:
    return times_pre, [t + dt for t in times_pre]


def stdp_protocol(rule, dts_ms: Sequence[float] | None = None, *, n_pairs: int = 60,
                  freq_hz: float = 1.0, reps: int = 100, seed: int = 0,
                  device: str | torch.device = "auto") -> dict:
    """STDP window: ``n_pairs`` pre/post pairs at ``freq_hz``, post at pre + dt (dt in ms)."""
    dts = list(dts_ms) if dts_ms is not None else [float(x) for x in range(-100, 101, 5)]
    if n_pairs <= 0 or not freq_hz > 0 or reps <= 0:
        raise ValueError("n_pairs, freq_hz and reps must be > 0")
    if any(abs(d) >= 1000.0 / freq_hz for d in dts):
        raise ValueError("|dt| must be shorter than the pairing period")
    dev = _device(device)
    period = 1000.0 / freq_hz
    t0 = 200.0
    base = [t0 + k * period for k in range(n_pairs)]
    pre, post = [], []
    for d in dts:
        a, b = _pairs(base, d)
        pre += [a] * reps
        post += [b] * reps
    pre_t, post_t = torch.tensor(pre, device=dev), torch.tensor(post, device=dev)
    t_end = t0 + n_pairs * period
    gen = torch.Generator(device=dev).manual_seed(seed)
    res = _readout(rule, pre_t, post_t, t_end, len(dts), reps, gen, dev)
    return {"protocol": "stdp", "rule": rule.name, "dt_ms": dts, "n_pairs": n_pairs,
            "freq_hz": freq_hz, "reps": reps, "seed": seed, **res}


def frequency_protocol(rule, freqs_hz: Sequence[float] = (0.1, 10.0, 20.0, 40.0, 50.0),
                       dts_ms: Sequence[float] = (10.0, -10.0), *, n_bursts: int = 15,
                       pairs_per_burst: int = 5, burst_period_ms: float = 10_000.0,
                       reps: int = 100, seed: int = 0,
                       device: str | torch.device = "auto") -> dict:
    """Sjöström et al. (2001): ``n_bursts`` x ``pairs_per_burst`` pairings at f Hz, dt = +-10 ms."""
    _check_nonneg("frequencies", freqs_hz)
    if any(f <= 0 for f in freqs_hz):
        raise ValueError("frequencies must be > 0 Hz")
    dev = _device(device)
    conds, pre, post, t_end = [], [], [], 0.0
    for f in freqs_hz:
        period = 1000.0 / f
        if any(abs(d) >= period for d in dts_ms):
            raise ValueError(f"|dt| must be shorter than the pairing period at {f} Hz")
        bp = max(burst_period_ms, pairs_per_burst * period)
        base = [200.0 + i * bp + k * period
                for i in range(n_bursts) for k in range(pairs_per_burst)]
        t_end = max(t_end, base[-1] + bp)
        for d in dts_ms:
            a, b = _pairs(base, d)
            conds.append((f, d))
            pre += [a] * reps
            post += [b] * reps
    n = max(len(x) for x in pre)
    pad = [x + [math.inf] * (n - len(x)) for x in pre]
    padp = [x + [math.inf] * (n - len(x)) for x in post]
    gen = torch.Generator(device=dev).manual_seed(seed)
    res = _readout(rule, torch.tensor(pad, device=dev), torch.tensor(padp, device=dev), t_end,
                   len(conds), reps, gen, dev)
    return {"protocol": "frequency", "rule": rule.name, "freq_hz": [c[0] for c in conds],
            "dt_ms": [c[1] for c in conds], "n_bursts": n_bursts,
            "pairs_per_burst": pairs_per_burst, "reps": reps, "seed": seed, **res}


def poisson_times(rates_hz: torch.Tensor, duration_ms: float, gen: torch.Generator) -> torch.Tensor:
    """Poisson spike times (B, E) in [0, duration) for rates (B,), +inf padded."""
    dev = rates_hz.device
    lam = rates_hz.double() * duration_ms * 1e-3
    n_max = int(lam.max().item() + 8 * math.sqrt(lam.max().item() + 1) + 8)
    counts = torch.poisson(lam, generator=gen).clamp(max=n_max).long()
    t = torch.rand(rates_hz.shape[0], n_max, generator=gen, device=dev,
                   dtype=torch.float64) * duration_ms
    t = torch.where(torch.arange(n_max, device=dev) < counts.unsqueeze(1), t, math.inf)
    return torch.sort(t, dim=1).values


def rate_protocol(rule, pre_rates_hz: Sequence[float] = (1, 2, 5, 10, 20, 30, 50, 80),
                  post_rates_hz: Sequence[float] = (1, 2, 5, 10, 20, 30, 50, 80), *,
                  duration_ms: float = 1000.0, reps: int = 200, seed: int = 0,
                  device: str | torch.device = "auto") -> dict:
    """Independent Poisson pre and post trains on a (pre rate x post rate) grid."""
    _check_nonneg("rates", list(pre_rates_hz) + list(post_rates_hz))
    if not duration_ms > 0:
        raise ValueError(f"duration must be > 0 ms, got {duration_ms}")
    dev = _device(device)
    conds = [(a, b) for a in pre_rates_hz for b in post_rates_hz]
    f64 = torch.float64
    r_pre = torch.tensor([c[0] for c in conds for _ in range(reps)], device=dev, dtype=f64)
    r_post = torch.tensor([c[1] for c in conds for _ in range(reps)], device=dev, dtype=f64)
    gen = torch.Generator(device=dev).manual_seed(seed)
    pre = poisson_times(r_pre, duration_ms, gen)
    post = poisson_times(r_post, duration_ms, gen)
    res = _readout(rule, pre, post, duration_ms, len(conds), reps, gen, dev)
    return {"protocol": "rate", "rule": rule.name, "pre_rate_hz": [float(c[0]) for c in conds],
            "post_rate_hz": [float(c[1]) for c in conds], "duration_ms": duration_ms,
            "reps": reps, "seed": seed, **res}
