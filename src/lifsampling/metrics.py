r"""Metrics for samplers and generative models.

Distributions over small machines (research notes tempering_and_metrics.md §3.4 [V]):

* :func:`state_histogram` — p̂(s) from sampled states, state index s = Σ_k z_k 2^{N-1-k}
  (unit 0 = most significant bit, the ``sbs`` order used by
  :func:`lifsampling.boltzmann.exact_distribution`).
* :func:`kl_divergence` — D_KL(p* ‖ p̂) = Σ_s p*(s) log(p*(s)/p̂(s)), the direction of
  ``sbs.utils.dkl(p_theo, p_sim)``; a pseudocount ``eps`` on p̂ (then renormalised) keeps empty
  states finite instead of silently dropping them.
* :func:`marginal_kl` — Σ_k D_KL(Bern(p*_k) ‖ Bern(p̂_k)) (``sbs.utils.dkl_sum_marginals``).

Sample quality and mixing (§3.1–§3.3): :func:`isl` (indirect sampling likelihood,
Breuleux et al. 2011), :func:`class_switches`, :func:`confident_class_switches`,
:func:`classes_visited`, :func:`class_histogram_distance`, :func:`integrated_autocorr_time`
(Sokal window) and :func:`effective_sample_size`. AIS lives in
:mod:`lifsampling.boltzmann.ais` (it needs the model).
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _as_tensor(x, dtype=torch.float64) -> torch.Tensor:
    return (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))).to(dtype)


# --------------------------------------------------------------------------------------------
# distributions over small machines
# --------------------------------------------------------------------------------------------
def state_histogram(states) -> torch.Tensor:
    """Empirical distribution p̂ over all 2**N states, float64 (2**N,), sbs state order.

    Args:
        states: (S, N) or (chains, S, N) binary states (bool or 0/1); all rows are pooled.
    """
    z = _as_tensor(states, torch.float64)
    if z.ndim < 2:
        raise ValueError(f"states must have shape (S, N), got {tuple(z.shape)}")
    z = z.reshape(-1, z.shape[-1])
    n = z.shape[-1]
    if n > 20:
        raise ValueError(f"a histogram over 2**{n} states is too large (N <= 20)")
    if z.shape[0] == 0:
        raise ValueError("no states given")
    if not ((z == 0) | (z == 1)).all():
        raise ValueError("states must be binary (0/1)")
    weights = 2 ** torch.arange(n - 1, -1, -1, dtype=torch.int64)
    idx = (z.to(torch.int64) * weights).sum(-1)
    counts = torch.bincount(idx, minlength=2**n).to(torch.float64)
    return counts / counts.sum()


def _check_dist(p: torch.Tensor, name: str) -> torch.Tensor:
    if p.ndim != 1 or p.numel() == 0:
        raise ValueError(f"{name} must be a 1-D probability vector")
    if (p < 0).any() or not torch.isfinite(p).all():
        raise ValueError(f"{name} must be finite and non-negative")
    s = float(p.sum())
    if s <= 0:
        raise ValueError(f"{name} sums to zero")
    return p / s


def kl_divergence(p_target, p_sampled, eps: float = 1e-10) -> float:
    """D_KL(p_target ‖ p_sampled) in nats, with pseudocount ``eps`` added to p_sampled.

    Both vectors are normalised; terms with p_target = 0 contribute 0.
    """
    p = _check_dist(_as_tensor(p_target), "p_target")
    q = _check_dist(_as_tensor(p_sampled), "p_sampled")
    if p.shape != q.shape:
        raise ValueError(f"distributions differ in size: {p.numel()} vs {q.numel()}")
    q = (q + eps) / (1 + eps * q.numel())
    mask = p > 0
    return float((p[mask] * (p[mask].log() - q[mask].log())).sum())


def marginals_from_distribution(p) -> torch.Tensor:
    """p(z_k = 1) for each unit from a distribution over 2**N states (sbs order)."""
    p = _check_dist(_as_tensor(p), "p")
    n = int(round(math.log2(p.numel())))
    if 2**n != p.numel():
        raise ValueError(f"distribution length {p.numel()} is not a power of 2")
    idx = torch.arange(2**n)
    bits = ((idx[:, None] >> torch.arange(n - 1, -1, -1)) & 1).to(torch.float64)
    return p @ bits


def marginal_kl(m_target, m_sampled, eps: float = 1e-10) -> float:
    """Σ_k D_KL(Bern(m*_k) ‖ Bern(m̂_k)) in nats for marginal vectors m_k = p(z_k = 1), (N,).

    Get marginals from a state distribution with :func:`marginals_from_distribution`, from
    samples with ``states.mean(0)``. m̂ is clamped to [eps, 1 - eps].
    """
    a, b = _as_tensor(m_target), _as_tensor(m_sampled)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("marginal_kl needs two marginal vectors of the same length")
    if not (((a >= 0) & (a <= 1)).all() and ((b >= 0) & (b <= 1)).all()):
        raise ValueError("marginals must lie in [0, 1]")
    b = b.clamp(eps, 1 - eps)
    t1 = torch.where(a > 0, a * (a.clamp_min(1e-300).log() - b.log()), torch.zeros_like(a))
    t0 = torch.where(a < 1, (1 - a) * ((1 - a).clamp_min(1e-300).log() - (1 - b).log()),
                     torch.zeros_like(a))
    return float((t1 + t0).sum())
