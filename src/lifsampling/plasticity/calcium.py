"""BiCaLL: the bistable calcium-based local learning rule (Soares Girão, Risi & Chicca 2025).

Source of the equations: research note ``calcium_rule.md`` §2a/2b/2f (the paper's equations as
reproduced by a review of arXiv 2504.06796, with signs and magnitudes pinned by the first author's
Brian2 code, rule "LR3"). The paper's own parameter table was *not* available: the defaults below
are the author's LR3 set '2.0' except where stated, and every such choice is marked "chosen".

Per synapse i -> j (traces live on the neurons; times in ms, traces dimensionless)::

    dx_pre/dt  = -x_pre / tau_pre        pre spike:  x_pre  <- x_pre  + a_pre  (x_pre_max  - x_pre)
    dx_post/dt = -x_post / tau_post      post spike: x_post <- x_post + a_post (x_post_max - x_post)
    dx_stop/dt = -x_stop / tau_stop      post spike: x_stop <- x_stop + a_stop (x_stop_max - x_stop)

    pre spike:   w <- w + g * c_d1 * H(x_post - theta_post)                         (c_d1 < 0)
    post spike:  w <- w + g * [c_p * x_pre + c_d2 * H(theta_pre - x_pre) H(x_pre - x_pre_min)]
                                                                          (c_p > 0, c_d2 < 0)
    w <- clip(w, 0, 1)
    dw/dt = +alpha / tau_b  if w > theta_b (until 1),  -beta / tau_b  otherwise (until 0)
    effective weight  w_eff = w_max * H(w - theta_b)        (binary)
    stop-learning gate g = H(x_stop - theta_stop_low) H(theta_stop_high - x_stop)

Order inside one step (or at one instant): traces decay and the weight drifts over the elapsed
time, then presynaptic spikes are processed (own trace jump, then depression read from the post
trace), then postsynaptic spikes (post and stop trace jumps, gate, then the update read from the
pre trace, which already contains a simultaneous pre spike). So a pre and a post spike at the
same instant count as pre-before-post.

Every feature can be switched off (``bounded_traces``, ``bistable``, ``clip``, ``binary``,
``stop_learning``, ``depression_pre``, ``depression_post``), to show what it contributes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import torch


@dataclass(frozen=True)
class BiCaLLParams:
    """Hyperparameters of BiCaLL. Times in ms, everything else dimensionless.

    Defaults: author's Brian2 LR3 set '2.0' (research note §2c) for the traces, thresholds and
    jumps, except ``tau_bistable_ms``: 350 s (the author's code default; set '2.0' used 20 s, whose
    drift of 0.05/s undoes any pairing protocol at 1 Hz, where one pairing moves w by <= 0.04).
    ``x_pre_min`` = 0: the c_d2 depression needs *some* pre activity (x_pre > 0), as in the
    author's code. The stop-learning window (tau 600 ms, jump 0.03, 0.1 < x_stop < 0.59) is set
    '1.X1'/'2.0'; it is open for post rates of roughly 7-90 Hz (steady state after a spike
    x_stop = a / (1 - (1 - a) exp(-1/(r tau)))).
    """

    tau_pre_ms: float = 20.0
    tau_post_ms: float = 35.0
    a_pre: float = 0.4
    a_post: float = 0.5
    x_pre_max: float = 1.0
    x_post_max: float = 1.0
    theta_pre: float = 0.25
    theta_post: float = 0.33
    c_p: float = 0.1
    c_d1: float = -0.021
    c_d2: float = -0.002
    x_pre_min: float = 0.0
    tau_bistable_ms: float = 350_000.0
    theta_bistable: float = 0.5
    alpha: float = 1.0
    beta: float = 1.0
    w_max: float = 1.0
    tau_stop_ms: float = 600.0
    a_stop: float = 0.03
    x_stop_max: float = 1.0
    theta_stop_low: float = 0.1
    theta_stop_high: float = 0.59
    # feature switches
    bounded_traces: bool = True
    bistable: bool = True
    clip: bool = True
    binary: bool = True
    stop_learning: bool = True
    depression_pre: bool = True
    depression_post: bool = True

    def validate(self) -> None:
        for name in ("tau_pre_ms", "tau_post_ms", "tau_bistable_ms", "tau_stop_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 ms, got {getattr(self, name)}")
        for name in ("a_pre", "a_post", "a_stop"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.c_p < 0 or self.c_d1 > 0 or self.c_d2 > 0:
            raise ValueError("sign convention: c_p >= 0 (potentiation), c_d1 <= 0 and c_d2 <= 0 "
                             f"(depression); got c_p={self.c_p}, c_d1={self.c_d1}, "
                             f"c_d2={self.c_d2}")
        if not self.theta_stop_low < self.theta_stop_high:
            raise ValueError("theta_stop_low must be below theta_stop_high")

    def to_dict(self) -> dict:
        return asdict(self)

    def without(self, *features: str) -> BiCaLLParams:
        """A copy with the named feature switches turned off, e.g. ``p.without("bistable")``."""
        allowed = ("bounded_traces", "bistable", "clip", "binary", "stop_learning",
                   "depression_pre", "depression_post")
        for f in features:
            if f not in allowed:
                raise ValueError(f"unknown feature {f!r}; use one of {', '.join(allowed)}")
        return replace(self, **{f: False for f in features})


class PlasticityState(NamedTuple):
    """State of B independent copies of an (N_pre x N_post) plastic projection.

    For BiCaLL: ``pre`` = x_pre (B, N_pre), ``post`` = x_post (B, N_post), ``stop`` = x_stop
    (B, N_post), ``w`` = hidden weight (B, N_pre, N_post). For Graupner–Brunel: ``pre``/``post``
    are the pre- and postsynaptic calcium contributions (summed per synapse), ``stop`` is unused
    (zeros) and ``w`` is the efficacy rho.
    """

    pre: torch.Tensor
    post: torch.Tensor
    stop: torch.Tensor
    w: torch.Tensor

    @classmethod
    def zeros(cls, batch: int, n_pre: int, n_post: int, w0: float | torch.Tensor, *,
              device: torch.device | str = "cpu",
              dtype: torch.dtype = torch.float32) -> PlasticityState:
        """Traces at 0; weights ``w0`` (scalar or broadcastable to (B, N_pre, N_post))."""
        w = torch.as_tensor(w0, dtype=dtype, device=device).expand(batch, n_pre, n_post).clone()
        return cls(torch.zeros(batch, n_pre, device=device, dtype=dtype),
                   torch.zeros(batch, n_post, device=device, dtype=dtype),
                   torch.zeros(batch, n_post, device=device, dtype=dtype), w)


def _as_elapsed(elapsed_ms: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Elapsed time as a (B, 1) tensor (a float broadcasts to every copy)."""
    e = torch.as_tensor(elapsed_ms, dtype=like.dtype, device=like.device)
    return e.reshape(-1, 1) if e.ndim else e.reshape(1, 1)


class BiCaLL:
    """BiCaLL behind the common rule interface (see :mod:`lifsampling.plasticity`).

    ``advance(state, elapsed_ms)`` decays the traces and applies the bistable drift over the
    elapsed time (exactly: the drift never crosses theta_b); ``on_spikes(state, pre, post)``
    applies the spike-triggered jumps and updates; ``weight(state)`` is the effective weight.
    """

    name = "bicall"
    pre_delay_ms = 0.0

    def __init__(self, params: BiCaLLParams | None = None) -> None:
        self.p = params or BiCaLLParams()
        self.p.validate()

    def init_state(self, batch: int, n_pre: int, n_post: int, w0: float | torch.Tensor = 0.5,
                   *, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> PlasticityState:
        """Traces at 0; hidden weights ``w0`` (scalar or broadcastable to (B, N_pre, N_post))."""
        return PlasticityState.zeros(batch, n_pre, n_post, w0, device=device, dtype=dtype)

    # -- continuous part -------------------------------------------------------------------
    def decay(self, s: PlasticityState, elapsed_ms: float | torch.Tensor) -> PlasticityState:
        """Exponential decay of the three traces over ``elapsed_ms`` (float or (B,) tensor)."""
        p = self.p
        if isinstance(elapsed_ms, float | int):
            return s._replace(pre=s.pre * math.exp(-elapsed_ms / p.tau_pre_ms),
                              post=s.post * math.exp(-elapsed_ms / p.tau_post_ms),
                              stop=s.stop * math.exp(-elapsed_ms / p.tau_stop_ms))
        e = _as_elapsed(elapsed_ms, s.pre)
        return s._replace(pre=s.pre * torch.exp(-e / p.tau_pre_ms),
                          post=s.post * torch.exp(-e / p.tau_post_ms),
                          stop=s.stop * torch.exp(-e / p.tau_stop_ms))

    def drift(self, s: PlasticityState, elapsed_ms: float | torch.Tensor) -> PlasticityState:
        """Bistable drift over ``elapsed_ms``: exact, since w moves away from theta_b."""
        p = self.p
        if not p.bistable:
            return s
        e = _as_elapsed(elapsed_ms, s.pre).unsqueeze(-1) / p.tau_bistable_ms
        up = s.w > p.theta_bistable
        w = torch.where(up, torch.minimum(s.w + p.alpha * e, torch.ones_like(s.w)),
                        torch.maximum(s.w - p.beta * e, torch.zeros_like(s.w)))
        # a weight above 1 or below 0 (clipping off) is left where it is by the drift
        w = torch.where((s.w > 1) | (s.w < 0), s.w, w)
        return s._replace(w=w)

    def advance(self, s: PlasticityState, elapsed_ms: float | torch.Tensor,
                generator: torch.Generator | None = None) -> PlasticityState:
        return self.drift(self.decay(s, elapsed_ms), elapsed_ms)

    # -- spike events ----------------------------------------------------------------------
    def _jump(self, x: torch.Tensor, spk: torch.Tensor, a: float, x_max: float) -> torch.Tensor:
        if self.p.bounded_traces:
            return torch.where(spk, x + a * (x_max - x), x)
        return torch.where(spk, torch.clamp(x + a, max=x_max), x)  # author's additive + clip

    def gate(self, s: PlasticityState) -> torch.Tensor:
        """Stop-learning gate per postsynaptic neuron (B, N_post), 1 = learning allowed."""
        p = self.p
        if not p.stop_learning:
            return torch.ones_like(s.stop)
        return ((s.stop > p.theta_stop_low) & (s.stop < p.theta_stop_high)).to(s.stop.dtype)

    def on_spikes(self, s: PlasticityState, pre: torch.Tensor | None,
                  post: torch.Tensor | None, *, shared: bool = False) -> PlasticityState:
        """Process the boolean spike masks ``pre`` (B, N_pre) and ``post`` (B, N_post).

        ``shared=True``: the B copies share one weight matrix (``w`` of shape (1, N_pre, N_post))
        and their updates are summed (B parallel presentations to one network, computed as two
        matrix products); ``shared=False``: each copy has its own ``w`` (B, N_pre, N_post).
        """
        p = self.p
        x_pre, x_post, x_stop, w = s
        dw = None
        if pre is not None and bool(pre.any()):
            x_pre = self._jump(x_pre, pre, p.a_pre, p.x_pre_max)
            if p.depression_pre:
                dep = p.c_d1 * (x_post > p.theta_post).to(w.dtype) * self.gate(s)  # (B, N_post)
                dw = _outer(pre.to(w.dtype), dep, shared)
        if post is not None and bool(post.any()):
            x_post = self._jump(x_post, post, p.a_post, p.x_post_max)
            x_stop = self._jump(x_stop, post, p.a_stop, p.x_stop_max)
            g = post.to(w.dtype) * self.gate(PlasticityState(x_pre, x_post, x_stop, w))
            dpost = p.c_p * x_pre
            if p.depression_post:
                dpost = dpost + p.c_d2 * ((x_pre < p.theta_pre)
                                          & (x_pre > p.x_pre_min)).to(w.dtype)
            d2 = _outer(dpost, g, shared)
            dw = d2 if dw is None else dw + d2
        if dw is not None:
            w = w + dw
            if p.clip:
                w = w.clamp(0.0, 1.0)
        return PlasticityState(x_pre, x_post, x_stop, w)

    def step(self, s: PlasticityState, pre: torch.Tensor | None, post: torch.Tensor | None,
             dt_ms: float, generator: torch.Generator | None = None) -> PlasticityState:
        """One time step of a clocked network: advance by ``dt_ms``, then this step's spikes."""
        return self.on_spikes(self.advance(s, dt_ms), pre, post)

    def weight(self, s: PlasticityState) -> torch.Tensor:
        """Effective weight in units of w_max: binary H(w - theta_b) or the hidden w itself."""
        if self.p.binary:
            return self.p.w_max * (s.w > self.p.theta_bistable).to(s.w.dtype)
        return self.p.w_max * s.w

    def is_up(self, s: PlasticityState) -> torch.Tensor:
        return s.w > self.p.theta_bistable

    def describe(self) -> dict:
        return {"rule": self.name, **self.p.to_dict()}


def _outer(a: torch.Tensor, b: torch.Tensor, shared: bool) -> torch.Tensor:
    """Per-copy outer products a_i b_j (B, N_pre, N_post), or their sum over copies (1, ., .)."""
    if shared:
        return (a.transpose(0, 1) @ b).unsqueeze(0)
    return a.unsqueeze(-1) * b.unsqueeze(-2)


def trace_closed_form(spike_times_ms: torch.Tensor, t_ms: float, tau_ms: float, a: float,
                      x_max: float = 1.0) -> float:
    """Bounded trace at ``t_ms`` after spikes at ``spike_times_ms`` (sorted), by recursion over
    the interspike intervals: x_k+ = x_k- + a (x_max - x_k-), x_(k+1)- = x_k+ exp(-ISI/tau).

    For a regular train with period T this converges to x+ = a x_max / (1 - (1 - a) e^(-T/tau)).
    """
    x, last = 0.0, None
    for ts in spike_times_ms.tolist():
        if ts > t_ms:
            break
        if last is not None:
            x *= math.exp(-(ts - last) / tau_ms)
        x += a * (x_max - x)
        last = ts
    if last is None:
        return 0.0
    return x * math.exp(-(t_ms - last) / tau_ms)
