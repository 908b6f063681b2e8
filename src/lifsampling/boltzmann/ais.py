r"""Annealed importance sampling (AIS) of an RBM's log partition function, and log-likelihoods.

Salakhutdinov & Murray 2008 (ICML), after Neal 2001; research notes tempering_and_metrics.md
§3.2 [V]. Base-rate model A: visible biases only, b_A,i = logit((count_i + 5)/(N_data + 5))
fitted to the data (or zeros without data), Z_A = 2^{n_h} Π_i (1 + e^{b_A,i}). Intermediate
unnormalised distributions over v (hidden units summed out), 0 = β_0 < … < β_K = 1:

    log p*_k(v) = (1−β_k) b_Aᵀv + β_k b_vᵀv + Σ_j softplus(β_k (b_h + Wᵀv)_j).

Each run draws v ~ A, accumulates log w += log p*_k(v) − log p*_{k−1}(v) and moves v by one
Gibbs transition that leaves p_k invariant (h ~ σ(β_k(b_h + Wᵀv)), v ~ σ((1−β_k) b_A +
β_k(b_v + W h))). Then log Ẑ = log Z_A + log mean_r exp(log w_r). The spread is given as the
standard deviation of log w over runs and as log(Ẑ ± 3σ̂) with σ̂ the standard error of the mean
of the weights (Salakhutdinov's report). E[Ẑ] = Z implies E[log Ẑ] ≤ log Z (Jensen), so AIS
log-likelihoods are stochastically optimistic.

Default schedule (Salakhutdinov's released code for the CD25(500) model [V]): β steps of 1/1000
on [0, 0.5], 1/10000 on [0.5, 0.9], 1/100000 on [0.9, 1] — 14,500 transitions — and 100 runs;
:func:`salakhutdinov_schedule` scales the number of steps in each segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import RBM, all_states


def salakhutdinov_schedule(n_betas: int = 14500, dtype=torch.float64) -> torch.Tensor:
    """β ladder with the segment densities of Salakhutdinov's AIS code, about n_betas steps.

    Segments [0, 0.5], [0.5, 0.9], [0.9, 1] get 500/14500, 4000/14500 and 10000/14500 of the
    steps. Returns a strictly increasing tensor from 0 to 1 (length n_betas + 1).
    """
    if n_betas < 3:
        raise ValueError(f"n_betas must be >= 3, got {n_betas}")
    n1 = max(1, round(n_betas * 500 / 14500))
    n2 = max(1, round(n_betas * 4000 / 14500))
    n3 = max(1, n_betas - n1 - n2)
    return torch.cat([torch.linspace(0, 0.5, n1 + 1, dtype=dtype)[:-1],
                      torch.linspace(0.5, 0.9, n2 + 1, dtype=dtype)[:-1],
                      torch.linspace(0.9, 1.0, n3 + 1, dtype=dtype)])


def base_rate_biases(v_data: torch.Tensor | None, n_visible: int, pseudocount: float = 5.0,
                     dtype=torch.float64) -> torch.Tensor:
    """b_A = logit(p), p_i = (count_i + pseudocount)/(N + pseudocount); zeros without data."""
    if v_data is None:
        return torch.zeros(n_visible, dtype=dtype)
    v = torch.as_tensor(v_data, dtype=dtype)
    if v.ndim != 2 or v.shape[1] != n_visible:
        raise ValueError(f"base-rate data must be (n, {n_visible}), got {tuple(v.shape)}")
    p = (v.sum(0) + pseudocount) / (v.shape[0] + pseudocount)
    p = p.clamp(1e-6, 1 - 1e-6)
    return torch.log(p) - torch.log1p(-p)


@dataclass
class AISResult:
    """log Ẑ and its spread; ``log_w`` are the per-run log importance weights."""

    log_z: float
    log_z_lower: float          # log(Ẑ − 3σ̂) (−inf if the interval reaches 0)
    log_z_upper: float          # log(Ẑ + 3σ̂)
    log_w_std: float            # standard deviation of log w over runs
    n_runs: int
    n_betas: int
    log_z_base: float
    log_w: torch.Tensor

    def as_dict(self) -> dict:
        return {"log_z": self.log_z, "log_z_lower": self.log_z_lower,
                "log_z_upper": self.log_z_upper, "log_w_std": self.log_w_std,
                "n_runs": self.n_runs, "n_betas": self.n_betas, "log_z_base": self.log_z_base}


def ais_log_z(rbm: RBM, n_runs: int = 100, betas: torch.Tensor | int | None = None,
              v_data: torch.Tensor | None = None, seed: int = 0, dtype=torch.float64,
              progress: bool = False) -> AISResult:
    """AIS estimate of log Z for an RBM (all runs batched).

    Args:
        n_runs: independent AIS runs (importance samples).
        betas: increasing ladder from 0 to 1, or a number of steps for
            :func:`salakhutdinov_schedule` (default 14,500).
        v_data: training data for the base-rate model (recommended; zeros otherwise).
        dtype: float64 by default (the weights sum thousands of small increments).
    """
    if n_runs < 1:
        raise ValueError(f"n_runs must be >= 1, got {n_runs}")
    if betas is None or isinstance(betas, int):
        betas = salakhutdinov_schedule(14500 if betas is None else betas, dtype)
    betas = torch.as_tensor(betas, dtype=dtype)
    if betas.ndim != 1 or betas.numel() < 2 or float(betas[0]) != 0.0 or float(betas[-1]) != 1.0 \
            or not (betas[1:] > betas[:-1]).all():
        raise ValueError("betas must increase strictly from 0 to 1")
    r = rbm.to(dtype=dtype)
    dev = r.device
    g = torch.Generator(device=dev).manual_seed(seed)
    bA = base_rate_biases(None if v_data is None else v_data.cpu(), r.n_visible, dtype=dtype
                          ).to(dev)
    log_za = r.n_hidden * math.log(2.0) + float(F.softplus(bA).sum())

    def rand(shape):
        return torch.rand(shape, generator=g, device=dev, dtype=dtype)

    v = (rand((n_runs, r.n_visible)) < torch.sigmoid(bA)).to(dtype)
    log_w = torch.zeros(n_runs, dtype=dtype, device=dev)
    betas = betas.to(dev)
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("AIS", total=betas.numel() - 1)
    try:
        a = v @ r.W + r.b_h
        vb_a, vb = v @ bA, v @ r.b_v
        prev = (1 - betas[0]) * vb_a + betas[0] * vb + F.softplus(betas[0] * a).sum(-1)
        for k in range(1, betas.numel()):
            bk = betas[k]
            cur = (1 - bk) * vb_a + bk * vb + F.softplus(bk * a).sum(-1)
            log_w += cur - prev
            if k < betas.numel() - 1:
                h = (rand(a.shape) < torch.sigmoid(bk * a)).to(dtype)
                v = (rand(v.shape) < torch.sigmoid((1 - bk) * bA + bk * (h @ r.W.T + r.b_v))
                     ).to(dtype)
                a = v @ r.W + r.b_h
                vb_a, vb = v @ bA, v @ r.b_v
                prev = (1 - bk) * vb_a + bk * vb + F.softplus(bk * a).sum(-1)
            if bar is not None and k % 100 == 0:
                bar.update(task, completed=k)
    finally:
        if bar is not None:
            bar.stop()
    lw = log_w.cpu()
    m = float(torch.logsumexp(lw, 0)) - math.log(n_runs)
    log_z = log_za + m
    # σ̂ of the mean weight, relative to the mean: std(w)/(sqrt(R) mean(w))
    rel = torch.exp(lw - (m + math.log(1.0)))
    sig = float(rel.std(unbiased=True)) / math.sqrt(n_runs) if n_runs > 1 else float("nan")
    upper = log_z + math.log1p(3 * sig) if math.isfinite(sig) else float("nan")
    lower = log_z + math.log(1 - 3 * sig) if math.isfinite(sig) and 3 * sig < 1 \
        else float("-inf")
    return AISResult(log_z=log_z, log_z_lower=lower, log_z_upper=upper,
                     log_w_std=float(lw.std(unbiased=True)) if n_runs > 1 else 0.0,
                     n_runs=n_runs, n_betas=int(betas.numel() - 1), log_z_base=log_za, log_w=lw)


def log_unnormalized_visible(rbm: RBM, v: torch.Tensor, marginalize_labels: bool = False,
                             batch_size: int = 50) -> torch.Tensor:
    """log p̃ of visible vectors: −F(v); with ``marginalize_labels`` the log-sum over all
    2**n_labels configurations of the (binary) label units, i.e. log p̃(x) of the pixels alone.

    v: (B, n_v) full visible vectors, or (B, n_pixels) images when marginalising.
    """
    r = rbm
    if not marginalize_labels or r.n_labels == 0:
        return -r.free_energy(v.to(r.dtype))
    x = v[:, : r.n_pixels].to(r.dtype)
    L = r.n_labels
    labels = all_states(L, dtype=r.dtype, device=r.device)            # (2^L, L)
    Wx, Wy = r.W[: r.n_pixels], r.W[r.n_pixels:]
    lab_field = labels @ Wy                                              # (2^L, n_h)
    lab_bias = labels @ r.b_v[r.n_pixels:]                               # (2^L,)
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        a = xb @ Wx + r.b_h                                             # (b, n_h)
        neg_f = (xb @ r.b_v[: r.n_pixels])[:, None] + lab_bias[None, :] \
            + F.softplus(a[:, None, :] + lab_field[None]).sum(-1)       # (b, 2^L)
        out.append(torch.logsumexp(neg_f, dim=1))
    return torch.cat(out)


def average_log_likelihood(rbm: RBM, v: torch.Tensor, log_z: float,
                           marginalize_labels: bool = False) -> float:
    """Mean log p(v) = mean(−F(v)) − log Z in nats (per vector); see
    :func:`log_unnormalized_visible` for ``marginalize_labels``."""
    return float(log_unnormalized_visible(rbm, v, marginalize_labels).double().mean()) - log_z
