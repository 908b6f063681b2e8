"""Components of the per-step slots of :func:`lifsampling.engine.simulate`.

The step schedule (module docstring of :mod:`lifsampling.engine`) has named slots; this module
holds what plugs into them besides the built-in parts:

- **drive** (slot 1, with the Poisson background): :class:`PoissonInput`, a population of
  external spike sources with a fixed projection onto the network (e.g. an image presented as
  Poisson trains; its spikes are also the presynaptic side of an ``"input"`` plastic projection),
  and :class:`PoissonDrive`, extra Poisson excitation/inhibition with a rate per chain and
  neuron (e.g. a teacher signal).
- **plasticity** (slot 5): anything with the :class:`PlasticityRule` interface; the rules of
  :mod:`lifsampling.plasticity` come as such components (``plasticity.PlasticProjection``).
- **recording** (slot 6): besides :class:`~.monitors.Record`, callables ``recorder(view)`` that
  receive a :class:`StepView` after every post-burn-in step.

All conductances are in µS, rates in Hz, times in ms; tensors are batch-first (B = chains).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch

from .neuron import LIFState


@runtime_checkable
class PlasticityRule(Protocol):
    """A plastic projection onto the network's neurons: the component of the plasticity slot.

    ``pre`` says where its presynaptic spikes come from: ``"network"`` (recurrent: the network's
    own spikes, delivered like every recurrent synapse one step later, scaled by the STP
    efficacy) or ``"input"`` (the spikes of ``simulate(..., input=PoissonInput(...))``, delivered
    in the same step as the input's fixed projection). The projection is excitatory; its weights
    (effective conductances, µS) are (1, N_pre, N) when all chains share them (``shared``: their
    updates are summed, B parallel presentations to one network) or (B, N_pre, N).

    - ``init(chains, n_pre, n_post, device=, dtype=, dt_ms=) -> (state, weights)``
    - ``step(state, pre, post, weights, dt_ms, generator) -> (state, weights)``: pure; called
      once per step after propagation with this step's boolean spikes (B, N_pre), (B, N); the
      returned weights act from the next delivery on.
    - ``finish(state, weights, elapsed_ms) -> (state, weights)``: once after the last step
      (e.g. slow dynamics integrated once per run by operator splitting).
    """

    pre: str
    shared: bool

    def init(self, chains: int, n_pre: int, n_post: int, *, device: torch.device,
             dtype: torch.dtype, dt_ms: float) -> tuple[Any, torch.Tensor]: ...

    def step(self, state: Any, pre: torch.Tensor, post: torch.Tensor, weights: torch.Tensor,
             dt_ms: float, generator: torch.Generator) -> tuple[Any, torch.Tensor]: ...

    def finish(self, state: Any, weights: torch.Tensor,
               elapsed_ms: float) -> tuple[Any, torch.Tensor]: ...


class StepView(NamedTuple):
    """What a recorder sees after step ``step`` (counted from the end of the burn-in)."""

    step: int
    t_ms: float  # start of the step, from the start of the burn-in
    state: LIFState
    spikes: torch.Tensor  # (B, N) bool
    z: torch.Tensor  # (B, N) bool
    plasticity_state: Any
    plastic_weights: torch.Tensor | None


def _per_chain(x: torch.Tensor, chains: int, n: int, name: str) -> torch.Tensor:
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2 or x.shape[-1] != n or x.shape[0] not in (1, chains):
        raise ValueError(f"{name} must be ({n},), (1, {n}) or ({chains}, {n}), "
                         f"got {tuple(x.shape)}")
    if not torch.isfinite(x).all() or bool((x < 0).any()):
        raise ValueError(f"{name} must be finite and >= 0")
    return x


@dataclass(frozen=True)
class PoissonInput:
    """``n_in`` external spike sources projecting onto the network (drive slot).

    Source i of chain b fires in a step with probability ``rates_hz[b, i] dt`` (a Poisson
    process discretised to at most one spike per step; requires rate x dt <= 1). Its spikes add
    ``weights_uS[i, :]`` (signed: positive excitatory, negative inhibitory with conductance |w|)
    to the network's conductances at the end of the same step, like the background.
    ``rates_hz`` is (n_in,) or (B, n_in) (e.g. one image per chain).

    ``correlation`` c in [0, 1] makes the sources correlated without changing their rates, by
    the multiple-interaction process (Kuhn, Aertsen & Rotter 2003): in every step a mother
    process of chain b fires with probability p_m = p_max / (c (1 - p_max) + p_max), where
    p_max = max_i(rate_i dt), and source i copies a mother spike with probability
    rate_i dt / p_m. Each source stays Bernoulli(rate_i dt) per step, independent across steps;
    two sources with step probabilities p_i, p_j have the correlation coefficient
    sqrt(p_i p_j) (1/p_m - 1) / sqrt((1 - p_i)(1 - p_j)) in every counting window, which is
    exactly c for two sources at the maximal rate (c = 0: independent sources).
    """

    rates_hz: torch.Tensor
    weights_uS: torch.Tensor
    correlation: float = 0.0

    @property
    def n(self) -> int:
        return int(self.rates_hz.shape[-1])

    def mother_probability(self, p: torch.Tensor) -> torch.Tensor | None:
        """Per-step probability of each chain's mother process (1|B, 1) for the source
        probabilities ``p`` (1|B, n_in), or None without correlation."""
        c = float(self.correlation)
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"PoissonInput.correlation must be in [0, 1], got {c}")
        if c == 0.0:
            return None
        p_max = p.amax(-1, keepdim=True)
        return p_max / (c * (1 - p_max) + p_max).clamp(min=1e-300)

    def prepare(self, chains: int, n_post: int, dt_ms: float, device: torch.device,
                dtype: torch.dtype) -> tuple[torch.Tensor, FixedProjection]:
        """(spike probability per step (1|B, n_in), the fixed projection)."""
        p = _per_chain(torch.as_tensor(self.rates_hz), chains, self.n, "PoissonInput.rates_hz")
        p = p.to(device=device, dtype=dtype) * (dt_ms * 1e-3)
        if bool((p > 1).any()):
            raise ValueError(f"PoissonInput rates must be <= 1/dt = {1e3 / dt_ms:g} Hz")
        w = torch.as_tensor(self.weights_uS)
        if w.shape != (self.n, n_post) or not torch.isfinite(w).all():
            raise ValueError(f"PoissonInput.weights_uS must be finite ({self.n}, {n_post}), "
                             f"got {tuple(w.shape)}")
        w = w.to(device=device, dtype=dtype)
        return p, FixedProjection(w.clamp(min=0), (-w).clamp(min=0))


class FixedProjection:
    """Fixed excitatory and inhibitory weights (N_pre, N), each applied as ``x @ w``; a matrix
    that is zero is skipped, one whose rows are constant (every source reaches all targets with
    one weight, e.g. global inhibition) costs a matrix-vector product."""

    def __init__(self, w_exc: torch.Tensor, w_inh: torch.Tensor) -> None:
        self.n = int(w_exc.shape[1])
        self.parts = [self._compact(w_exc), self._compact(w_inh)]

    @staticmethod
    def _compact(w: torch.Tensor) -> tuple[torch.Tensor, bool] | None:
        if not bool((w != 0).any()):
            return None
        if bool((w == w[:, :1]).all()):
            return w[:, :1].contiguous(), True
        return w.contiguous(), False

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Conductance jumps (exc, inh), (B, N) or None, of presynaptic activity x (B, N_pre)."""
        out = []
        for part in self.parts:
            if part is None:
                out.append(None)
                continue
            w, uniform = part
            out.append((x @ w).expand(x.shape[0], self.n) if uniform else x @ w)
        return out[0], out[1]


@dataclass(frozen=True)
class PoissonDrive:
    """Extra Poisson conductance input with a rate per chain and neuron (drive slot).

    In every step neuron j of chain b receives ``Poisson(rate_exc_hz[b, j] dt)`` excitatory jumps
    of ``w_exc_uS`` and independently ``Poisson(rate_inh_hz[b, j] dt)`` inhibitory jumps of
    ``w_inh_uS`` (rates (N,) or (B, N), Hz; weights µS), arriving at the end of the step.
    """

    rate_exc_hz: torch.Tensor
    w_exc_uS: float
    rate_inh_hz: torch.Tensor | None = None
    w_inh_uS: float = 0.0

    def prepare(self, chains: int, n: int, dt_ms: float, device: torch.device,
                dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Mean counts per step (1|B, N) for exc and inh (None where absent or zero)."""
        if self.w_exc_uS < 0 or self.w_inh_uS < 0:
            raise ValueError("PoissonDrive weights must be >= 0 µS")
        out = []
        for rate, w in ((self.rate_exc_hz, self.w_exc_uS), (self.rate_inh_hz, self.w_inh_uS)):
            if rate is None or w == 0:
                out.append(None)
                continue
            r = _per_chain(torch.as_tensor(rate), chains, n, "PoissonDrive rate")
            out.append(r.to(device=device, dtype=dtype).expand(chains, n) * (dt_ms * 1e-3))
        return out[0], out[1]


def project(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Conductance jumps ``x @ w`` of presynaptic activity ``x`` (B, N_pre) through weights
    (N_pre, N), (1, N_pre, N) (shared by all chains) or (B, N_pre, N) (one per chain)."""
    if w.ndim == 2:
        return x @ w
    if w.shape[0] == 1:
        return x @ w[0]
    return torch.bmm(x.unsqueeze(1), w).squeeze(1)
