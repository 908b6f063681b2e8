r"""Metrics for samplers and generative models.

Distributions over small machines (research notes tempering_and_metrics.md §3.4 [V]):

* :func:`state_histogram` — p̂(s) from sampled states, state index s = Σ_k z_k 2^{N-1-k}
  (unit 0 = most significant bit, the ``sbs`` order used by
  :func:`lifsampling.boltzmann.exact_distribution`).
* :func:`kl_divergence` — D_KL(p* ‖ p̂) = Σ_s p*(s) log(p*(s)/p̂(s)), the direction of
  ``sbs.utils.dkl(p_theo, p_sim)``; a pseudocount ``eps`` on p̂ (then renormalised) keeps empty
  states finite instead of silently dropping them.
* :func:`marginal_kl` — Σ_k D_KL(Bern(p*_k) ‖ Bern(p̂_k)) (``sbs.utils.dkl_sum_marginals``).

Sample quality and mixing (§3.1–§3.3). Headline metrics, which i.i.d. noise cannot pass:

* :func:`isl_validated` — indirect sampling likelihood (Breuleux et al. 2011) at the bandwidth
  chosen on a validation split (:func:`isl` at a fixed β is the labelled extra);
* :func:`mode_switches` — switches between *runs* of ≥ ``min_run`` confident samples of one
  class (:func:`confident_runs`, :func:`confident_fraction`);
* :func:`split_rhat`, :func:`ess_bulk`, :func:`multichain_diagnostics` — rank-normalised
  split-R̂ and bulk ESS (Vehtari et al. 2021) of the free energy and of class indicators;
* :func:`class_histogram_distance` — total variation to the data's class proportions.

Also :func:`class_switches`, :func:`confident_class_switches`, :func:`classes_visited`,
:func:`integrated_autocorr_time` (Sokal window) and :func:`effective_sample_size`. AIS lives in
:mod:`lifsampling.boltzmann.ais` (it needs the model).
"""

from __future__ import annotations

import math
import numbers

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


# --------------------------------------------------------------------------------------------
# indirect sampling likelihood (Breuleux, Bengio & Vincent 2011)
# --------------------------------------------------------------------------------------------
def _binary_2d(x, name: str) -> torch.Tensor:
    t = _as_tensor(x, torch.float32)
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n, D) array, got {tuple(t.shape)}")
    if not ((t == 0) | (t == 1)).all():
        raise ValueError(f"{name} must be binary (0/1); binarise images before the ISL")
    return t


def isl_per_example(samples, test, beta: float = 0.95, batch_size: int = 500) -> torch.Tensor:
    r"""log p̂_β(x) for every test vector x (float64 (M,)).

    p̂_β(x) = (1/N) Σ_j β^{D−H_j(x)} (1−β)^{H_j(x)}, H_j the Hamming distance from x to sample
    s_j (product-of-Bernoulli Parzen window; research notes §3.1 [V]). Hamming distances come
    from one matrix product, H = D − (X Sᵀ + (1−X)(1−S)ᵀ).
    """
    S, X = _binary_2d(samples, "samples"), _binary_2d(test, "test")
    if S.shape[1] != X.shape[1]:
        raise ValueError(f"samples have {S.shape[1]} units, test vectors {X.shape[1]}")
    if not 0.5 <= beta < 1:
        raise ValueError(f"beta must be in [0.5, 1), got {beta}")
    D, N = S.shape[1], S.shape[0]
    lb, l1b = math.log(beta), math.log1p(-beta)
    out = []
    for i in range(0, X.shape[0], batch_size):
        xb = X[i:i + batch_size]
        agree = xb @ S.T + (1 - xb) @ (1 - S).T                      # (b, N) = D − H
        logk = agree.double() * lb + (D - agree.double()) * l1b
        out.append(torch.logsumexp(logk, dim=1) - math.log(N))
    return torch.cat(out)


def isl(samples, test, beta: float = 0.95) -> float:
    """ISL(S; T) = mean over test vectors of log p̂_β(x), in nats per vector."""
    return float(isl_per_example(samples, test, beta).mean())


def isl_select_beta(samples, validation, betas=None) -> tuple[float, float]:
    """β maximising the ISL of a validation split (grid over [0.5, 1), 100 values by default,
    as in the public ISL routines, research notes §3.1). Returns (beta, isl_at_beta)."""
    grid = np.linspace(0.5, 0.995, 100) if betas is None else np.asarray(betas, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not ((grid >= 0.5) & (grid < 1)).all():
        raise ValueError("betas must be a non-empty 1-D grid of values in [0.5, 1)")
    S, V = _binary_2d(samples, "samples"), _binary_2d(validation, "validation")
    if S.shape[1] != V.shape[1]:
        raise ValueError(f"samples have {S.shape[1]} units, validation vectors {V.shape[1]}")
    agree = torch.cat([vb @ S.T + (1 - vb) @ (1 - S).T for vb in V.split(500)]).double()
    D, N = S.shape[1], S.shape[0]
    best = (float("nan"), -float("inf"))
    for b in grid:
        val = float((torch.logsumexp(agree * math.log(b) + (D - agree) * math.log1p(-b), 1)
                     - math.log(N)).mean())
        if val > best[1]:
            best = (float(b), val)
    return best


def isl_validated(samples, test, validation, betas=None) -> dict:
    """ISL of ``test`` at the bandwidth β that maximises the ISL of ``validation`` (nats per
    vector; Breuleux, Bengio & Vincent 2011, Neural Computation 23(8)). The headline ISL: a fixed
    β (:func:`isl`) favours samplers whose spread happens to suit that β.

    Returns {"isl": ISL on test at β, "beta": β, "isl_validation": ISL on validation at β}.
    """
    beta, val = isl_select_beta(samples, validation, betas)
    return {"isl": isl(samples, test, beta), "beta": beta, "isl_validation": val}


# --------------------------------------------------------------------------------------------
# mixing: classes of produced images
# --------------------------------------------------------------------------------------------
def _per_chain(labels) -> np.ndarray:
    y = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if y.ndim == 1:
        y = y[None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError("labels must be (S,) or (chains, S)")
    return y


def class_switches(labels, per: float | None = 1000.0) -> float:
    """Number of t with ŷ_t ≠ ŷ_{t−1} (within each chain), per ``per`` samples (None: count).

    labels: (S,) or (chains, S). The rate divides by the number of consecutive pairs.
    """
    y = _per_chain(labels)
    sw = float((y[:, 1:] != y[:, :-1]).sum())
    if per is None:
        return sw
    pairs = y.shape[0] * (y.shape[1] - 1)
    return per * sw / pairs if pairs else 0.0


def _probs_3d(probs, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(confident, class) arrays, each (chains, S), of class probabilities (S, C)/(chains, S, C)."""
    p = np.asarray(probs.cpu() if isinstance(probs, torch.Tensor) else probs, dtype=float)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[1] == 0 or p.shape[2] == 0:
        raise ValueError(f"probs must be (S, C) or (chains, S, C) with S, C >= 1, "
                         f"got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("probs must be finite")
    if isinstance(threshold, bool) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    return p.max(-1) >= threshold, p.argmax(-1)


def confident_class_switches(probs, threshold: float = 0.9, per: float | None = 1000.0,
                             skip_uncertain: bool = False) -> float:
    """Class switches counted only between samples classified with probability ≥ ``threshold``
    (suppresses flicker between ambiguous images; research notes §3.3 item 4).

    By default both *consecutive* samples must be confident. With ``skip_uncertain=True`` the
    uncertain samples are dropped first and switches are counted along each chain's subsequence
    of confident samples. The skip-uncertain count is **not** a headline metric: i.i.d. noise
    (independent uniform classes over 10 digits, 20 % of samples confident) scores
    1000 · 0.2 · 0.9 ≈ 180–185 per 1,000 on it. Use :func:`mode_switches` instead.

    probs: (S, C) or (chains, S, C) class probabilities of consecutive samples. Returns switches
    per ``per`` consecutive pairs (all pairs, confident or not, are counted in the denominator;
    ``per=None`` gives the raw count).
    """
    ok, cls = _probs_3d(probs, threshold)
    if skip_uncertain:
        sw = float(sum(int((row[keep][1:] != row[keep][:-1]).sum())
                       for row, keep in zip(cls, ok, strict=True)))
    else:
        both = ok[:, 1:] & ok[:, :-1]
        sw = float((both & (cls[:, 1:] != cls[:, :-1])).sum())
    if per is None:
        return sw
    pairs = cls.shape[0] * (cls.shape[1] - 1)
    return per * sw / pairs if pairs else 0.0


def confident_fraction(probs, threshold: float = 0.9) -> float:
    """Fraction of samples (all chains pooled) classified with max class probability
    ≥ ``threshold``. probs: (S, C) or (chains, S, C)."""
    ok, _ = _probs_3d(probs, threshold)
    return float(ok.mean())


def confident_runs(probs, threshold: float = 0.9,
                   min_run: int = 3) -> list[list[tuple[int, int, int]]]:
    """Runs of confident samples: maximal stretches of ≥ ``min_run`` consecutive samples all
    classified as the same class with max probability ≥ ``threshold``.

    probs: (S, C) or (chains, S, C). Returns, per chain, the list of (class, start, length) in
    time order (start and length in samples).
    """
    return _runs(*_probs_3d(probs, threshold), min_run)


def _runs(ok: np.ndarray, cls: np.ndarray, min_run: int) -> list[list[tuple[int, int, int]]]:
    if isinstance(min_run, bool) or not isinstance(min_run, numbers.Integral) or min_run < 1:
        raise ValueError(f"min_run must be an integer >= 1, got {min_run!r}")
    lab = np.where(ok, cls, -1)
    out = []
    for row in lab:
        edges = np.flatnonzero(row[1:] != row[:-1]) + 1          # starts of constant stretches
        starts = np.concatenate([[0], edges])
        lengths = np.diff(np.concatenate([starts, [row.size]]))
        out.append([(int(row[s]), int(s), int(n)) for s, n in zip(starts, lengths, strict=True)
                    if row[s] >= 0 and n >= min_run])
    return out


def mode_switches(probs, threshold: float = 0.9, min_run: int = 3,
                  per: float | None = 1000.0) -> float:
    """Mode switches: successive confident runs (:func:`confident_runs`) of one chain whose
    classes differ; the samples between two runs are ignored. A switch thus needs ``min_run``
    confident same-class samples on both sides, which i.i.d. noise almost never produces
    (research notes §3.3 item 4, made robust to noise).

    probs: (S, C) or (chains, S, C) class probabilities of consecutive samples. Returns
    switches per ``per`` consecutive pairs, denominator chains·(S − 1) as in
    :func:`confident_class_switches`; ``per=None`` gives the raw count.
    """
    ok, cls = _probs_3d(probs, threshold)
    runs = _runs(ok, cls, min_run)
    sw = float(sum(sum(a[0] != b[0] for a, b in zip(r[:-1], r[1:], strict=True)) for r in runs))
    if per is None:
        return sw
    pairs = cls.shape[0] * (cls.shape[1] - 1)
    return per * sw / pairs if pairs else 0.0


def classes_visited(labels, n_classes: int = 10) -> np.ndarray:
    """Number of distinct classes in each chain, (chains,)."""
    y = _per_chain(labels)
    return np.array([len(np.unique(row[(row >= 0) & (row < n_classes)])) for row in y])


def class_histogram(labels, n_classes: int = 10) -> np.ndarray:
    """Fraction of samples in each class (all chains pooled), (n_classes,)."""
    y = _per_chain(labels).ravel().astype(np.int64)
    counts = np.bincount(y[(y >= 0) & (y < n_classes)], minlength=n_classes).astype(float)
    return counts / max(counts.sum(), 1.0)


def class_histogram_distance(labels, proportions) -> dict:
    """Class histogram of the samples against the data's class proportions q (C,).

    Labels outside [0, C) (e.g. −1 for "uncertain") are ignored; N = number of the others, n_k
    the counts. Returns (nats):

    * ``total_variation`` — ½ Σ_k |q_k − n_k/N|, the headline number;
    * ``kl_add_one`` — D_KL(q ‖ q̂) with the add-one (Dirichlet(1) posterior mean) estimate
      q̂_k = (n_k + 1)/(N + C), finite and moderate when classes are never produced;
    * ``kl`` — the same value as ``kl_add_one``, kept for compatibility (it used a 1e-10
      pseudocount, whose value was set by the pseudocount, not by the sampler);
    * ``histogram`` — n_k/N; ``entropy`` — H(n/N); ``counts`` — n_k.
    """
    q = np.asarray(proportions, dtype=float)
    if q.ndim != 1 or q.size == 0 or (q < 0).any() or not np.isfinite(q).all() or q.sum() <= 0:
        raise ValueError("proportions must be a non-empty, finite, non-negative 1-D vector")
    q = q / q.sum()
    y = _per_chain(labels).ravel().astype(np.int64)
    counts = np.bincount(y[(y >= 0) & (y < q.size)], minlength=q.size)
    n = int(counts.sum())
    qh = counts / max(n, 1)
    q1 = (counts + 1.0) / (n + q.size)
    mask = q > 0
    kl = float((q[mask] * np.log(q[mask] / q1[mask])).sum())
    ent = float(-(qh[qh > 0] * np.log(qh[qh > 0])).sum())
    return {"histogram": qh.tolist(), "total_variation": float(0.5 * np.abs(q - qh).sum()),
            "kl_add_one": kl, "kl": kl, "entropy": ent, "counts": counts.tolist()}


# --------------------------------------------------------------------------------------------
# autocorrelation (Sokal 1997) and effective sample size
# --------------------------------------------------------------------------------------------
def _series_2d(x, name: str = "series", min_len: int = 2) -> np.ndarray:
    a = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=float)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] < min_len or a.shape[0] == 0:
        raise ValueError(f"{name} must be (S,) or (chains, S) with S >= {min_len}, "
                         f"got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite")
    return a


def _autocov(a: np.ndarray) -> np.ndarray:
    """Biased autocovariance sums Σ_i a_i a_{i+k} / S per row, k = 0..S−1, via FFT."""
    S = a.shape[1]
    n = 1 << (2 * S - 1).bit_length()
    f = np.fft.rfft(a, n=n, axis=1)
    return np.fft.irfft(f * np.conj(f), n=n, axis=1)[:, :S] / S


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation ρ(k), k = 0..S−1, of a scalar series (S,) or of several chains
    (chains, S), via FFT (Sokal 1997).

    For several chains the autocovariances are taken about the mean *pooled over all chains*
    and averaged over chains, as in multi-chain ESS (Vehtari et al. 2021): chains stuck in
    different modes then keep ρ(k) ≈ between-chain variance / total variance at every lag
    instead of looking well mixed about their own means. One chain: its own mean."""
    a = _series_2d(x)
    S = a.shape[1]
    acov = _autocov(a - a.mean()).mean(0)
    if acov[0] <= 0:
        return np.concatenate([[1.0], np.zeros(S - 1)])
    return acov / acov[0]


def integrated_autocorr_time(x, c: float = 5.0) -> float:
    """τ_int = 1 + 2 Σ_{k=1}^{M} ρ(k) with Sokal's automatic window: the smallest M with
    M ≥ c τ_int(M) (c = 5). In units of samples. A constant series gives 1."""
    rho = autocorrelation(x)
    taus = 1 + 2 * np.cumsum(rho[1:])
    for m in range(1, len(taus) + 1):
        if m >= c * taus[m - 1]:
            return float(max(taus[m - 1], 1e-12))
    return float(taus[-1])


def effective_sample_size(x, c: float = 5.0) -> float:
    """ESS = (chains × S) / τ_int (research notes §3.3; Sokal window, pooled-mean
    autocovariances). For the rank-normalised multi-chain estimate see :func:`ess_bulk`."""
    a = _series_2d(x)
    return float(a.size / integrated_autocorr_time(a, c))


# --------------------------------------------------------------------------------------------
# multi-chain diagnostics: rank-normalised split-R̂ and bulk ESS (Vehtari, Gelman, Simpson,
# Carpenter & Bürkner 2021, Bayesian Analysis 16(2), 667–718), implemented from the paper's
# equations (ArviZ would pull in pandas, xarray and h5py, ~130 MB, and takes seconds to import).
# --------------------------------------------------------------------------------------------
def _split_chains(x) -> np.ndarray:
    """(chains, S) -> (2·chains, S//2): each chain cut into halves (a middle sample of odd S
    is dropped)."""
    a = _series_2d(x, "x", min_len=4)
    h = a.shape[1] // 2
    return np.concatenate([a[:, :h], a[:, a.shape[1] - h:]], axis=0)


def _rank_normalise(a: np.ndarray) -> np.ndarray:
    """Normal scores z = Φ⁻¹((r − 3/8)/(S_tot + 1/4)) of the ranks r pooled over all draws
    (average ranks for ties)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(a, method="average").reshape(a.shape)
    return ndtri((r - 0.375) / (a.size + 0.25))


def _rhat_classic(z: np.ndarray) -> float:
    """Gelman–Rubin R̂ = √(var⁺/W), var⁺ = (N−1)/N W + B/N, of chains z (M, N)."""
    n = z.shape[1]
    w = 0.0 if _chains_constant(z) else float(z.var(axis=1, ddof=1).mean())
    b_n = float(z.mean(axis=1).var(ddof=1))
    if w <= 0:
        return float("inf") if b_n > 0 else float("nan")
    return math.sqrt(((n - 1) / n * w + b_n) / w)


def _is_constant(a: np.ndarray) -> bool:
    return bool(np.all(a == a.flat[0]))


def _chains_constant(a: np.ndarray) -> bool:
    """Every chain (row) constant: W = 0 exactly (var() of equal floats may not be 0)."""
    return bool(np.all(a == a[:, :1]))


def split_rhat(x) -> float:
    """Rank-normalised split-R̂ of x (chains, S) (or (S,), one chain): the maximum of the bulk
    R̂ (Gelman–Rubin on the normal scores of the pooled ranks of the 2·chains half-chains) and
    the tail R̂ (the same on the folded draws |x − median(x)|); Vehtari et al. 2021, Bayesian
    Analysis 16(2), eqs. in §3–4. Dimensionless; ≈ 1 for mixed chains (use < 1.01).

    A constant input gives nan; half-chains that are each constant but differ give inf.
    """
    h = _split_chains(x)
    if _is_constant(h):
        return float("nan")
    bulk = _rhat_classic(_rank_normalise(h))
    folded = np.abs(h - np.median(h))
    tail = float("nan") if _is_constant(folded) else _rhat_classic(_rank_normalise(folded))
    return float(np.nanmax([bulk, tail]))


def ess_bulk(x) -> float:
    r"""Bulk effective sample size of x (chains, S) (or (S,)), in samples: multi-chain ESS
    (Vehtari et al. 2021, Bayesian Analysis 16(2), §3.2) of the rank-normalised half-chains.

    ρ̂_t = 1 − (W − mean_m s_m² ρ̂_{t,m}) / var⁺ combines the within-chain autocorrelations
    ρ̂_{t,m} with the between-chain variance (equivalent to autocovariances about the pooled
    mean), so chains in different modes get a small ESS. τ̂ = −1 + 2 Σ_k P̂_k over
    P̂_k = ρ̂_{2k} + ρ̂_{2k+1} up to the first negative P̂_k, made monotone (Geyer's initial
    monotone sequence), floored at 1/log10(M·N) as in Stan; ESS = M·N / τ̂.

    A constant input gives nan.
    """
    h = _split_chains(x)
    if _is_constant(h):
        return float("nan")
    z = _rank_normalise(h)
    m, n = z.shape
    w = 0.0 if _chains_constant(z) else float(z.var(axis=1, ddof=1).mean())
    var_plus = (n - 1) / n * w + float(z.mean(axis=1).var(ddof=1))
    if w <= 0:                      # every half-chain constant (but not all equal)
        rho = np.ones(n)
    else:
        acov = _autocov(z - z.mean(axis=1, keepdims=True))           # (M, N), biased
        rho = 1.0 - (w - (acov * (n / (n - 1))).mean(0)) / var_plus  # s_m² ρ̂_{t,m} = γ̂_t N/(N−1)
    pairs = rho[: 2 * (n // 2)].reshape(-1, 2).sum(1)               # P̂_k
    neg = np.flatnonzero(pairs < 0)
    pairs = pairs[: neg[0]] if neg.size else pairs
    pairs = np.minimum.accumulate(pairs)
    tau = max(-1.0 + 2.0 * float(pairs.sum()), 1.0 / math.log10(m * n))
    return float(m * n / tau)


def multichain_diagnostics(free_energy, classes, n_classes: int = 10) -> dict:
    """Split-R̂ and bulk ESS (Vehtari et al. 2021) of a sampler's chains.

    free_energy: (chains, S) free energy of the samples; classes: (chains, S) class labels
    (labels outside [0, n_classes) are ignored). Returns

    * ``rhat_free_energy``, ``ess_free_energy`` — :func:`split_rhat`, :func:`ess_bulk` of F;
    * ``rhat_classes`` — max of :func:`split_rhat` over the indicator series 1[class = k] of
      the classes that occur (and are not in every sample); chains that never visit a class
      make it large (inf when each half-chain sits on one class);
    * ``ess_classes`` — min of :func:`ess_bulk` over the same indicators.

    nan where no class indicator varies.
    """
    y = _series_2d(classes, "classes", min_len=4)
    if y.shape != _series_2d(free_energy, "free_energy", min_len=4).shape:
        raise ValueError("free_energy and classes must have the same (chains, S) shape")
    rh, es = [], []
    for k in range(n_classes):
        ind = (y == k).astype(float)
        if 0 < ind.sum() < ind.size:
            rh.append(split_rhat(ind))
            es.append(ess_bulk(ind))
    rh = [v for v in rh if v == v]
    es = [v for v in es if v == v]
    return {"rhat_free_energy": split_rhat(free_energy), "ess_free_energy": ess_bulk(free_energy),
            "rhat_classes": float(max(rh)) if rh else float("nan"),
            "ess_classes": float(min(es)) if es else float("nan")}


# --------------------------------------------------------------------------------------------
# independent MNIST classifier (trained once, cached without pickle)
# --------------------------------------------------------------------------------------------
class LinearClassifier:
    """Multinomial logistic regression p(c|x) = softmax(x Cᵀ + d) from stored arrays."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, meta: dict | None = None):
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.meta = meta or {}
        if self.coef.ndim != 2 or self.intercept.shape != (self.coef.shape[0],):
            raise ValueError("classifier arrays have inconsistent shapes")

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[1])

    def predict_proba(self, x) -> np.ndarray:
        """(S, n_classes) class probabilities of images x (S, 784) (0/1 or [0, 1])."""
        a = np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float32)
        lead = a.shape[:-1]
        a = a.reshape(-1, a.shape[-1])[:, : self.n_features]
        z = a @ self.coef.T + self.intercept
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        return p.reshape(*lead, -1)

    def predict(self, x) -> np.ndarray:
        return self.predict_proba(x).argmax(-1)


def mnist_classifier(data: str = "auto", refresh: bool = False,
                     max_train: int = 20000, seed: int = 0) -> LinearClassifier:
    """The independent classifier of produced images: scikit-learn ``LogisticRegression`` on
    threshold-binarised MNIST (pixel > 0.5), trained once and cached as npz (coefficients and a
    JSON note, no pickle) in ``lifsampling.datasets.cache_dir()``.

    ``data``: ``"auto"`` uses full MNIST when it is available locally (``$LIFSAMPLING_DATA`` or
    the cache; no download), else the built-in subset; or ``"builtin"``/``"mnist"``/a directory.
    At most ``max_train`` training images (first ones) are used.
    """
    import json

    from .datasets import binarize, cache_dir, load_mnist
    from .io import read_npz, write_npz

    ds = load_mnist(data, download=False)
    tag = f"{ds.provenance['source']}_{min(max_train, len(ds.y_train))}_{seed}"
    path = cache_dir() / f"classifier_logreg_{tag}.npz"
    if path.is_file() and not refresh:
        try:
            d = read_npz(path, "cached classifier")
            return LinearClassifier(d["coef"], d["intercept"], json.loads(str(d["meta"])))
        except (ValueError, KeyError):
            pass                                  # corrupt cache: retrain and overwrite
    from sklearn.linear_model import LogisticRegression

    n = min(max_train, len(ds.y_train))
    xtr = binarize(ds.x_train[:n])
    clf = LogisticRegression(C=0.05, max_iter=300, random_state=seed)
    clf.fit(xtr, ds.y_train[:n])
    acc = float((clf.predict(binarize(ds.x_test)) == ds.y_test).mean())
    meta = {"model": "sklearn LogisticRegression(C=0.05, lbfgs)", "train_source":
            ds.provenance["source"], "n_train": n, "binarization": "threshold 0.5",
            "test_accuracy": acc}
    write_npz(path, coef=clf.coef_.astype(np.float32), intercept=clf.intercept_.astype(
        np.float32), meta=np.array(json.dumps(meta)))
    return LinearClassifier(clf.coef_, clf.intercept_, meta)
