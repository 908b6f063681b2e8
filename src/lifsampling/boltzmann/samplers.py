r"""Classical MCMC samplers for Boltzmann machines behind one interface.

Every sampler is an object with

    sample(model, n, chains=1, seed=0, init=None) -> Tensor (chains, n, N)

returning n binary states per chain (0/1 in the model's dtype). For a :class:`RBM` the states
are full states z = (v, h), visible units first, N = n_v + n_h (the order of
:meth:`RBM.to_boltzmann`); ``states[..., :model.n_visible]`` are the visible units. A spiking
sampler plugs in by implementing the same method (see :class:`Sampler`). After a call,
``sampler.info`` holds diagnostics (sweeps per emitted sample, acceptance rates, occupancy).

* **Gibbs** (:class:`GibbsSampler`): one sweep = sequential update of every unit for a general
  machine, p(z_k=1|z_∖k) = σ(β(b_k + Σ_j W_kj z_j)); block update h|v then v|h for an RBM.
* **AST** (:class:`ASTSampler`): adaptive simulated tempering (Salakhutdinov 2010, with the
  Wang–Landau weights of Atchadé & Liu 2010; research notes tempering_and_metrics.md §2.3). The
  joint target is π(x, k) ∝ exp(-E_{β_k}(x) - ĝ_k) on a ladder 1 = β_0 > … > β_{K-1}; an x-move
  is one Gibbs sweep at β_k, a k-move proposes k±1 (the only neighbour at the ends, with the
  proposal ratio q(k|k')/q(k'|k) ∈ {½, 1, 2}) and accepts with
  min{1, exp(E_{β_k}(x) - E_{β_k'}(x) + ĝ_k - ĝ_k') q(k|k')/q(k'|k)}; then the visited level's
  log-weight grows by log(1 + γ_t), γ_t = γ_0 / (1 + t/t_0) (defaults γ_0 = 10, t_0 = 100, ladder
  linspace(1, 0.5, 10): mzenk/lif_pong ``draw_samples_ast`` [V, code]). Samples are emitted only
  while k = 0 (β = 1). For RBMs E_β(v) is the free energy F_β(v) with h summed out (Desjardins'
  choice, higher acceptance); for general machines E_β(z) = β E(z). The log-weights are shared by
  all chains of a call (each chain's update is averaged), like Desjardins' CAST.
* **PT** (:class:`PTSampler`): parallel tempering / replica exchange (Desjardins et al. 2010;
  research notes §2.5): one replica per β per chain, a Gibbs sweep for each, then neighbour swaps
  (even pairs, then odd pairs on the next step) accepted with
  min{1, exp(E_i(x_i) + E_j(x_j) - E_i(x_j) - E_j(x_i))}; the β = 1 replica is emitted each step.

Emitted RBM states at β = 1 carry a hidden layer drawn fresh from p(h | v), so (v, h) is a joint
sample. Randomness comes only from ``seed`` (a ``torch.Generator`` on the model's device).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch

from .model import RBM, BoltzmannMachine

Model = BoltzmannMachine | RBM


@runtime_checkable
class Sampler(Protocol):
    """The interface shared by Gibbs, AST, PT and the spiking (LIF) sampler."""

    name: str
    info: dict

    def sample(self, model, n: int, chains: int = 1, seed: int | None = 0,
               init: torch.Tensor | None = None) -> torch.Tensor:
        """Return (chains, n, N) binary states."""
        ...


# --------------------------------------------------------------------------------------------
# building blocks (batched over the leading dimension; beta is a scalar or a (B,) tensor)
# --------------------------------------------------------------------------------------------
def _check_model(model) -> None:
    if not isinstance(model, (BoltzmannMachine, RBM)):
        raise ValueError(f"expected a BoltzmannMachine or RBM, got {type(model).__name__}")


def _check_counts(n: int, chains: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"n (samples per chain) must be a positive integer, got {n!r}")
    if not isinstance(chains, int) or isinstance(chains, bool) or chains <= 0:
        raise ValueError(f"chains must be a positive integer, got {chains!r}")


def _generator(model, seed: int | None) -> torch.Generator:
    g = torch.Generator(device=model.device)
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def _bernoulli(logits: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    u = torch.rand(logits.shape, generator=g, device=logits.device, dtype=logits.dtype)
    return (u < torch.sigmoid(logits)).to(logits.dtype)


def _state_size(model) -> int:
    """Size of the sampler's internal state: visible units for an RBM, all units otherwise."""
    return model.n_visible if isinstance(model, RBM) else model.n


def initial_state(model, chains: int, g: torch.Generator,
                  init: torch.Tensor | None = None) -> torch.Tensor:
    """Internal start state (chains, n_v) for RBMs / (chains, N) for BMs.

    ``init`` may be a full state (N,) or (chains, N), or for an RBM a visible state (n_v,) or
    (chains, n_v); ``None`` draws every unit uniformly from {0, 1}.
    """
    m = _state_size(model)
    if init is None:
        return (torch.rand(chains, m, generator=g, device=model.device) < 0.5).to(model.dtype)
    init = torch.as_tensor(init, device=model.device).to(model.dtype)
    if init.ndim == 1:
        init = init.expand(chains, -1)
    if init.ndim != 2 or init.shape[0] != chains:
        raise ValueError(f"init must have shape (N,) or (chains={chains}, N), got "
                         f"{tuple(init.shape)}")
    if isinstance(model, RBM) and init.shape[1] == model.n:
        init = init[:, : model.n_visible]
    if init.shape[1] != m:
        allowed = f"{model.n_visible} or {model.n}" if isinstance(model, RBM) else f"{m}"
        raise ValueError(f"init has {init.shape[1]} units, expected {allowed}")
    if not ((init == 0) | (init == 1)).all():
        raise ValueError("init must be binary (0/1)")
    return init.clone()


def _beta_col(beta, like: torch.Tensor) -> torch.Tensor:
    beta = torch.as_tensor(beta, dtype=like.dtype, device=like.device)
    return beta[:, None] if beta.ndim == 1 else beta


def gibbs_sweep(model, state: torch.Tensor, g: torch.Generator, beta=1.0
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One Gibbs sweep at inverse temperature ``beta`` (scalar or per-row (B,)).

    RBM: h ~ p_β(h|v), v' ~ p_β(v|h); returns (v', h) — a joint sample at stationarity.
    General machine: units updated in order 0..N-1; returns (z', None).
    """
    if isinstance(model, RBM):
        bcol = _beta_col(beta, state)
        h = _bernoulli(bcol * model.hidden_input(state), g)
        v = _bernoulli(bcol * model.visible_input(h), g)
        return v, h
    z = state.clone()
    bcol = _beta_col(beta, z)[..., 0] if torch.as_tensor(beta).ndim == 1 else beta
    W, b = model.W, model.b
    for k in range(model.n):
        u = z @ W[:, k] + b[k]
        p = torch.sigmoid(bcol * u)
        z[:, k] = (torch.rand(z.shape[0], generator=g, device=z.device, dtype=z.dtype) < p
                   ).to(z.dtype)
    return z, None


def tempered_energy(model, state: torch.Tensor, beta) -> torch.Tensor:
    """-log p̃_β(state): F_β(v) for an RBM (hidden summed out), β E(z) for a general machine."""
    beta = torch.as_tensor(beta, dtype=model.dtype, device=model.device)
    if isinstance(model, RBM):
        return model.free_energy(state, beta)
    return beta * model.energy(state)


def _full_state(model, state: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Internal state at β = 1 to a full emitted state (RBM: draw h ~ p(h|v))."""
    if isinstance(model, RBM):
        h = _bernoulli(model.hidden_input(state), g)
        return torch.cat([state, h], dim=-1)
    return state


# --------------------------------------------------------------------------------------------
# Gibbs
# --------------------------------------------------------------------------------------------
class GibbsSampler:
    """Sequential-sweep Gibbs (general BM) / block Gibbs (RBM), one emitted state per ``thin``
    sweeps after ``burn_in`` sweeps."""

    name = "gibbs"

    def __init__(self, burn_in: int = 0, thin: int = 1, beta: float = 1.0) -> None:
        if burn_in < 0 or thin < 1:
            raise ValueError(f"need burn_in >= 0 and thin >= 1, got {burn_in}, {thin}")
        if not beta > 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.burn_in, self.thin, self.beta = int(burn_in), int(thin), float(beta)
        self.info: dict = {}

    def sample(self, model, n: int, chains: int = 1, seed: int | None = 0,
               init: torch.Tensor | None = None) -> torch.Tensor:
        _check_model(model)
        _check_counts(n, chains)
        g = _generator(model, seed)
        x = initial_state(model, chains, g, init)
        out = torch.empty(chains, n, model.n, dtype=model.dtype, device=model.device)
        for _ in range(self.burn_in):
            x, _h = gibbs_sweep(model, x, g, self.beta)
        for i in range(n):
            for _ in range(self.thin):
                x, h = gibbs_sweep(model, x, g, self.beta)
            out[:, i] = x if h is None else torch.cat([x, h], -1)
        self.info = {"sampler": self.name, "sweeps_per_sample": float(self.thin),
                     "burn_in": self.burn_in}
        return out


# --------------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------------
def _check_ladder(betas) -> torch.Tensor:
    b = torch.as_tensor(betas, dtype=torch.float64).flatten()
    if b.numel() < 2:
        raise ValueError("a temperature ladder needs at least 2 inverse temperatures")
    if abs(float(b[0]) - 1.0) > 1e-12:
        raise ValueError(f"the ladder must start at beta = 1, got {float(b[0])}")
    if not (b[1:] < b[:-1]).all() or not (b[-1] >= 0):
        raise ValueError("inverse temperatures must decrease strictly from 1 and stay >= 0")
    return b


class ASTSampler:
    """Adaptive simulated tempering (see module docstring for the update equations).

    Args:
        betas: ladder 1 = β_0 > β_1 > … (default linspace(1, 0.5, 10)).
        gamma0, t0: Wang–Landau step γ_t = gamma0 / (1 + t / t0).
        burn_in: steps (x-move + k-move + weight update) before anything is emitted.
        max_steps_per_sample: guard; raises if a chain has not emitted n samples after
            burn_in + n * max_steps_per_sample steps.
        log_weights: optional initial ĝ (e.g. from a previous run's ``info['log_weights']``).
    """

    name = "ast"

    def __init__(self, betas=None, gamma0: float = 10.0, t0: float = 100.0, burn_in: int = 0,
                 max_steps_per_sample: int = 1000, log_weights=None) -> None:
        self.betas = _check_ladder(torch.linspace(1.0, 0.5, 10) if betas is None else betas)
        if gamma0 < 0 or t0 <= 0:
            raise ValueError("need gamma0 >= 0 and t0 > 0")
        self.gamma0, self.t0 = float(gamma0), float(t0)
        self.burn_in, self.max_steps_per_sample = int(burn_in), int(max_steps_per_sample)
        self.log_weights = None if log_weights is None else torch.as_tensor(
            log_weights, dtype=torch.float64)
        self.info: dict = {}

    def _steps(self, model, chains: int, g: torch.Generator, init):
        """Yield (t, k, x) after each step t = 1, 2, ... (x-move, k-move, weight update);
        the diagnostics accumulate in ``self._counts``."""
        dev, dt = model.device, model.dtype
        betas = self.betas.to(device=dev, dtype=dt)
        K = betas.numel()
        x = initial_state(model, chains, g, init)
        k = torch.zeros(chains, dtype=torch.long, device=dev)
        gw = (torch.zeros(K, dtype=torch.float64, device=dev) if self.log_weights is None
              else self.log_weights.to(dev).clone())
        occupancy = torch.zeros(K, dtype=torch.long, device=dev)
        prop = torch.zeros(K, dtype=torch.long, device=dev)
        acc = torch.zeros(K, dtype=torch.long, device=dev)
        self._counts = {"betas": betas, "occupancy": occupancy, "prop": prop, "acc": acc,
                        "gw": gw}
        t = 0
        while True:
            # x-move at the chain's own temperature
            x, _h = gibbs_sweep(model, x, g, betas[k])
            # k-move: ±1 with probability ½ each, the only neighbour at an end
            up = torch.rand(chains, generator=g, device=dev) < 0.5
            kp = torch.where(up, k + 1, k - 1)
            kp = torch.where(k == 0, torch.ones_like(k), kp)
            kp = torch.where(k == K - 1, torch.full_like(k, K - 2), kp)
            q_fwd = torch.where((k == 0) | (k == K - 1), 1.0, 0.5)
            q_bwd = torch.where((kp == 0) | (kp == K - 1), 1.0, 0.5)
            log_a = (tempered_energy(model, x, betas[k]) - tempered_energy(model, x, betas[kp])
                     ).to(torch.float64) + gw[k] - gw[kp] + torch.log(q_bwd / q_fwd).to(
                         torch.float64)
            accept = torch.log(torch.rand(chains, generator=g, device=dev, dtype=torch.float64)
                               ) < log_a
            prop.index_add_(0, k, torch.ones_like(k))
            acc.index_add_(0, k, accept.long())
            k = torch.where(accept, kp, k)
            # Wang–Landau update, averaged over chains; level 0 pinned at 0
            gamma = self.gamma0 / (1.0 + t / self.t0)
            visits = torch.bincount(k, minlength=K).to(torch.float64)
            gw += math.log1p(gamma) * visits / chains
            gw -= gw[0].clone()
            occupancy += visits.long()
            t += 1
            yield t, k, x

    def _set_info(self, steps: int, chains: int, emitted: int) -> None:
        """``info`` after a run: ``sweeps_per_sample`` = chain-steps per emitted sample."""
        c = self._counts
        self.info = {
            "sampler": self.name, "betas": c["betas"].tolist(), "steps": steps,
            "sweeps_per_sample": steps * chains / max(emitted, 1),
            "occupancy": (c["occupancy"].double() / c["occupancy"].sum()).tolist(),
            "acceptance_from_level": (c["acc"].double() / c["prop"].clamp_min(1)).tolist(),
            "log_weights": c["gw"].tolist(),
        }

    def sample(self, model, n: int, chains: int = 1, seed: int | None = 0,
               init: torch.Tensor | None = None) -> torch.Tensor:
        _check_model(model)
        _check_counts(n, chains)
        g = _generator(model, seed)
        out = torch.empty(chains, n, model.n, dtype=model.dtype, device=model.device)
        count = torch.zeros(chains, dtype=torch.long, device=model.device)
        rows = torch.arange(chains, device=model.device)
        max_steps = self.burn_in + n * self.max_steps_per_sample
        for t, k, x in self._steps(model, chains, g, init):
            if t > self.burn_in:
                emit = (k == 0) & (count < n)
                if emit.any():
                    idx = rows[emit]
                    out[idx, count[idx]] = _full_state(model, x[idx], g)
                    count[idx] += 1
                if bool((count >= n).all()):
                    break
            if t >= max_steps:
                raise RuntimeError(
                    f"AST: after {t} steps only {int(count.min())} of {n} samples were emitted "
                    "by the slowest chain; the chain rarely returns to beta = 1 (use a denser "
                    "ladder, a larger beta_min, or more max_steps_per_sample)")
        self._set_info(t, chains, n * chains)
        return out

    def sample_budget(self, model, steps: int, chains: int = 1, seed: int | None = 0,
                      init: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Run exactly ``steps`` steps (one Gibbs sweep each: the same budget as ``steps``
        Gibbs sweeps) and return, for each chain, the states it emitted at beta = 1 after the
        burn-in, (n_c, N) with n_c varying between chains (0 possible)."""
        _check_model(model)
        _check_counts(steps, chains)
        g = _generator(model, seed)
        emitted: list[list[torch.Tensor]] = [[] for _ in range(chains)]
        for t, k, x in self._steps(model, chains, g, init):
            if t > self.burn_in and bool((k == 0).any()):
                idx = torch.nonzero(k == 0).flatten()
                full = _full_state(model, x[idx], g)
                for j, c in enumerate(idx.tolist()):
                    emitted[c].append(full[j])
            if t >= steps:
                break
        out = [torch.stack(e) if e else torch.empty(0, model.n, dtype=model.dtype,
                                                    device=model.device) for e in emitted]
        self._set_info(steps, chains, sum(len(e) for e in out))
        self.info["emitted_per_chain"] = [len(e) for e in out]
        return out


# --------------------------------------------------------------------------------------------
# PT
# --------------------------------------------------------------------------------------------
class PTSampler:
    """Parallel tempering: one replica per inverse temperature and chain, neighbour swaps.

    Args:
        betas: ladder 1 = β_0 > β_1 > … (default linspace(1, 0.5, 10)).
        burn_in: steps before emission; every later step emits the β = 1 replica.
    """

    name = "pt"

    def __init__(self, betas=None, burn_in: int = 0) -> None:
        self.betas = _check_ladder(torch.linspace(1.0, 0.5, 10) if betas is None else betas)
        self.burn_in = int(burn_in)
        self.info: dict = {}

    def sample(self, model, n: int, chains: int = 1, seed: int | None = 0,
               init: torch.Tensor | None = None) -> torch.Tensor:
        _check_model(model)
        _check_counts(n, chains)
        g = _generator(model, seed)
        dev, dt = model.device, model.dtype
        betas = self.betas.to(device=dev, dtype=dt)
        M = betas.numel()
        x0 = initial_state(model, chains, g, init)
        x = x0[:, None, :].repeat(1, M, 1)                       # (chains, M, m)
        beta_flat = betas.repeat(chains)                          # (chains*M,)
        out = torch.empty(chains, n, model.n, dtype=dt, device=dev)
        prop = torch.zeros(M - 1, dtype=torch.long, device=dev)
        acc = torch.zeros(M - 1, dtype=torch.long, device=dev)
        total = self.burn_in + n
        for t in range(total):
            xf, _h = gibbs_sweep(model, x.reshape(chains * M, -1), g, beta_flat)
            x = xf.reshape(chains, M, -1)
            start = t % 2
            i = torch.arange(start, M - 1, 2, device=dev)
            if i.numel():
                j = i + 1
                xi, xj = x[:, i], x[:, j]                           # (chains, P, m)
                bi, bj = betas[i], betas[j]
                log_a = (tempered_energy(model, xi, bi) + tempered_energy(model, xj, bj)
                         - tempered_energy(model, xj, bi) - tempered_energy(model, xi, bj))
                u = torch.rand(log_a.shape, generator=g, device=dev, dtype=log_a.dtype)
                sw = (torch.log(u) < log_a)                        # (chains, P)
                prop.index_add_(0, i, torch.full_like(i, chains))
                acc.index_add_(0, i, sw.long().sum(0))
                swm = sw[..., None]
                x[:, i], x[:, j] = torch.where(swm, xj, xi), torch.where(swm, xi, xj)
            if t >= self.burn_in:
                out[:, t - self.burn_in] = _full_state(model, x[:, 0], g)
        self.info = {"sampler": self.name, "betas": betas.tolist(),
                     "sweeps_per_sample": float(M),
                     "swap_acceptance": (acc.double() / prop.clamp_min(1)).tolist()}
        return out


# --------------------------------------------------------------------------------------------
# functional front ends
# --------------------------------------------------------------------------------------------
SAMPLERS = {"gibbs": GibbsSampler, "ast": ASTSampler, "pt": PTSampler}


def get_sampler(name: str, **options) -> Sampler:
    """Sampler by name: ``gibbs``, ``ast`` or ``pt`` (options go to its constructor)."""
    try:
        cls = SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}"
                         ) from None
    return cls(**options)


def gibbs_sample(model, n_samples: int, chains: int = 1, seed: int | None = 0,
                 burn_in: int = 0, thin: int = 1, init=None) -> torch.Tensor:
    """Gibbs states (chains, n_samples, N); see :class:`GibbsSampler`."""
    return GibbsSampler(burn_in=burn_in, thin=thin).sample(model, n_samples, chains, seed, init)


def ast_sample(model, n_samples: int, chains: int = 1, seed: int | None = 0, burn_in: int = 0,
               betas=None, init=None, **options) -> torch.Tensor:
    """AST states at β = 1, (chains, n_samples, N); see :class:`ASTSampler`."""
    return ASTSampler(betas=betas, burn_in=burn_in, **options).sample(
        model, n_samples, chains, seed, init)


def pt_sample(model, n_samples: int, chains: int = 1, seed: int | None = 0, burn_in: int = 0,
              betas=None, init=None) -> torch.Tensor:
    """PT states of the β = 1 replica, (chains, n_samples, N); see :class:`PTSampler`."""
    return PTSampler(betas=betas, burn_in=burn_in).sample(model, n_samples, chains, seed, init)
