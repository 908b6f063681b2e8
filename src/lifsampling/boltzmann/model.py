r"""Boltzmann machines over binary units z ∈ {0,1}^N: one convention for general and RBMs.

**Convention** (the one of the LIF-sampling literature and of ``sbs``; research notes
tempering_and_metrics.md §3.4 [V]):

    p(z) = exp(-E(z)) / Z,   E(z) = -½ zᵀWz - bᵀz,

with W symmetric and zero on the diagonal. The conditional of one unit is
p(z_k = 1 | z_∖k) = σ(b_k + Σ_j W_kj z_j) (the membrane potential u_k of neural sampling).

A restricted Boltzmann machine (RBM) with visible v ∈ {0,1}^{n_v}, hidden h ∈ {0,1}^{n_h} has
E(v, h) = -b_vᵀv - b_hᵀh - vᵀWh with W of shape (n_v, n_h). It *is* the general machine with
z = (v, h) (visible units first) and the block weight matrix [[0, W], [Wᵀ, 0]]; see
:meth:`RBM.to_boltzmann`. Its free energy (hidden units summed out) is
F(v) = -b_vᵀv - Σ_j softplus(b_h,j + (Wᵀv)_j), so p(v) = exp(-F(v))/Z.

A classification RBM (Larochelle & Bengio 2008; the 794-500 RBM of the source work) keeps its
``n_labels`` one-hot label units as the *last* visible units: v = (x, y).

Exact quantities (state enumeration) follow the ``sbs`` state order: state index
s = Σ_k z_k 2^{N-1-k}, i.e. unit 0 is the most significant bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

#: Largest machine whose 2**N states are enumerated (2**20 float64 = 8 MiB per vector).
MAX_EXACT_UNITS = 20


def _as_float_tensor(x, name: str, dtype=None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name} must be a numeric array ({exc})") from None
    if not (x.is_floating_point() or x.dtype in (torch.int64, torch.int32, torch.bool)):
        raise ValueError(f"{name} must be a real-valued tensor, got dtype {x.dtype}")
    x = x.to(dtype or (x.dtype if x.is_floating_point() else torch.get_default_dtype()))
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


@dataclass(frozen=True, eq=False)
class BoltzmannMachine:
    """General Boltzmann machine p(z) ∝ exp(½ zᵀWz + bᵀz) over z ∈ {0,1}^N.

    Args:
        W: (N, N) symmetric coupling matrix with zero diagonal (dimensionless, units of kT).
        b: (N,) biases.
    """

    W: torch.Tensor
    b: torch.Tensor

    def __post_init__(self) -> None:
        W = _as_float_tensor(self.W, "W")
        b = _as_float_tensor(self.b, "b", W.dtype).to(W.device)
        if W.ndim != 2 or W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be a square (N, N) matrix, got shape {tuple(W.shape)}")
        if b.ndim != 1 or b.shape[0] != W.shape[0]:
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W, got {tuple(b.shape)}")
        if W.shape[0] == 0:
            raise ValueError("a Boltzmann machine needs at least one unit")
        tol = 1e-6 * max(1.0, float(W.abs().max()))
        if not torch.allclose(W, W.T, atol=tol, rtol=0):
            raise ValueError("W must be symmetric (W == W.T)")
        if W.diagonal().abs().max() > tol:
            raise ValueError("W must have a zero diagonal (no self-coupling)")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)

    @property
    def n(self) -> int:
        """Number of units N."""
        return int(self.b.shape[0])

    @property
    def device(self) -> torch.device:
        return self.W.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W.dtype

    def to(self, device=None, dtype=None) -> BoltzmannMachine:
        return BoltzmannMachine(self.W.to(device=device, dtype=dtype),
                                self.b.to(device=device, dtype=dtype))

    def energy(self, z: torch.Tensor) -> torch.Tensor:
        """E(z) = -½ zᵀWz - bᵀz for states z of shape (..., N); returns shape (...)."""
        z = z.to(self.dtype)
        return -0.5 * ((z @ self.W) * z).sum(-1) - z @ self.b

    def local_fields(self, z: torch.Tensor) -> torch.Tensor:
        """u_k = b_k + Σ_j W_kj z_j, the log-odds of p(z_k=1 | z_∖k); shape (..., N)."""
        return z.to(self.dtype) @ self.W + self.b

    def log_unnormalized(self, z: torch.Tensor) -> torch.Tensor:
        """log p̃(z) = -E(z)."""
        return -self.energy(z)


@dataclass(frozen=True, eq=False)
class RBM:
    """Restricted Boltzmann machine, E(v,h) = -b_vᵀv - b_hᵀh - vᵀWh.

    Args:
        W: (n_v, n_h) visible–hidden weights.
        b_v: (n_v,) visible biases.
        b_h: (n_h,) hidden biases.
        n_labels: number of one-hot label units, stored as the last ``n_labels`` visible units
            (0 for a plain RBM).
    """

    W: torch.Tensor
    b_v: torch.Tensor
    b_h: torch.Tensor
    n_labels: int = 0

    def __post_init__(self) -> None:
        W = _as_float_tensor(self.W, "W")
        if W.ndim != 2 or min(W.shape) == 0:
            raise ValueError(f"W must be an (n_visible, n_hidden) matrix, got {tuple(W.shape)}")
        b_v = _as_float_tensor(self.b_v, "b_v", W.dtype).to(W.device)
        b_h = _as_float_tensor(self.b_h, "b_h", W.dtype).to(W.device)
        if b_v.shape != (W.shape[0],):
            raise ValueError(f"b_v must have shape ({W.shape[0]},), got {tuple(b_v.shape)}")
        if b_h.shape != (W.shape[1],):
            raise ValueError(f"b_h must have shape ({W.shape[1]},), got {tuple(b_h.shape)}")
        n_labels = int(self.n_labels)
        if not 0 <= n_labels < W.shape[0]:
            raise ValueError(f"n_labels must be in [0, n_visible), got {self.n_labels}")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b_v", b_v)
        object.__setattr__(self, "b_h", b_h)
        object.__setattr__(self, "n_labels", n_labels)

    # --- sizes -----------------------------------------------------------------------------
    @property
    def n_visible(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.W.shape[1])

    @property
    def n(self) -> int:
        """Total number of units n_v + n_h."""
        return self.n_visible + self.n_hidden

    @property
    def n_pixels(self) -> int:
        """Visible units that are not labels."""
        return self.n_visible - self.n_labels

    @property
    def device(self) -> torch.device:
        return self.W.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W.dtype

    def to(self, device=None, dtype=None) -> RBM:
        return RBM(self.W.to(device=device, dtype=dtype), self.b_v.to(device=device, dtype=dtype),
                   self.b_h.to(device=device, dtype=dtype), self.n_labels)

    # --- conversions -----------------------------------------------------------------------
    def to_boltzmann(self) -> BoltzmannMachine:
        """The equivalent general machine over z = (v, h), visible units first."""
        nv, nh = self.n_visible, self.n_hidden
        Wf = torch.zeros(nv + nh, nv + nh, dtype=self.dtype, device=self.device)
        Wf[:nv, nv:] = self.W
        Wf[nv:, :nv] = self.W.T
        return BoltzmannMachine(Wf, torch.cat([self.b_v, self.b_h]))

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split full states (..., n_v + n_h) into (v, h)."""
        return z[..., : self.n_visible], z[..., self.n_visible:]

    # --- energies and conditionals ---------------------------------------------------------
    def energy(self, z: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Joint energy E(v,h); pass either full states z = (v,h) or v and h separately."""
        if h is None:
            v, h = self.split(z)
        else:
            v = z
        v, h = v.to(self.dtype), h.to(self.dtype)
        return -(v @ self.b_v) - (h @ self.b_h) - ((v @ self.W) * h).sum(-1)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """b_h + Wᵀv, the log-odds of p(h_j=1 | v); shape (..., n_h)."""
        return v.to(self.dtype) @ self.W + self.b_h

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """b_v + W h, the log-odds of p(v_i=1 | h); shape (..., n_v)."""
        return h.to(self.dtype) @ self.W.T + self.b_v

    def free_energy(self, v: torch.Tensor, beta: float | torch.Tensor = 1.0) -> torch.Tensor:
        """F_β(v) = -β b_vᵀv - Σ_j softplus(β (b_h + Wᵀv)_j), so p_β(v) ∝ exp(-F_β(v)).

        ``beta`` may be a scalar or a tensor broadcastable to v's batch shape.
        """
        v = v.to(self.dtype)
        beta = torch.as_tensor(beta, dtype=self.dtype, device=self.device)
        return -beta * (v @ self.b_v) - F.softplus(beta[..., None] * self.hidden_input(v)).sum(-1)

    # --- classification --------------------------------------------------------------------
    def label_free_energies(self, x: torch.Tensor) -> torch.Tensor:
        """F(x, y) for every label y (one-hot in the last ``n_labels`` visible units).

        Args:
            x: (B, n_pixels) images.
        Returns:
            (B, n_labels) free energies.
        """
        if self.n_labels == 0:
            raise ValueError("this RBM has no label units (n_labels = 0)")
        x = x.to(self.dtype)
        if x.shape[-1] != self.n_pixels:
            raise ValueError(f"images must have {self.n_pixels} pixels, got {x.shape[-1]}")
        Wx, Wy = self.W[: self.n_pixels], self.W[self.n_pixels:]
        bx, by = self.b_v[: self.n_pixels], self.b_v[self.n_pixels:]
        a = x @ Wx + self.b_h                                      # (B, n_h)
        act = a[:, None, :] + Wy[None, :, :]                       # (B, L, n_h)
        return -(x @ bx)[:, None] - by[None, :] - F.softplus(act).sum(-1)

    def label_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(y | x) = log softmax_y(-F(x, y)), hidden layer summed out; (B, n_labels)."""
        return torch.log_softmax(-self.label_free_energies(x), dim=-1)

    def classify(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Most probable label argmax_y p(y | x) for images x (B, n_pixels)."""
        out = [self.label_log_probs(x[i:i + batch_size]).argmax(-1)
               for i in range(0, x.shape[0], batch_size)]
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def check_exact_size(n: int) -> None:
    if n > MAX_EXACT_UNITS:
        raise ValueError(f"exact enumeration needs 2**N states; N = {n} exceeds the limit of "
                         f"{MAX_EXACT_UNITS} units (use sampling, or AIS for RBMs)")


def all_states(n: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """All 2**n binary states as rows, (2**n, n); row s has unit 0 as the most significant bit."""
    check_exact_size(n)
    idx = torch.arange(2**n, device=device)
    shifts = torch.arange(n - 1, -1, -1, device=device)
    return ((idx[:, None] >> shifts) & 1).to(dtype)


def state_index(states: torch.Tensor) -> torch.Tensor:
    """Index s = Σ_k z_k 2^{N-1-k} of binary states (..., N) (unit 0 = most significant bit)."""
    n = states.shape[-1]
    if n > 62:
        raise ValueError(f"cannot index states of {n} units (at most 62)")
    weights = 2 ** torch.arange(n - 1, -1, -1, device=states.device, dtype=torch.int64)
    return (states.to(torch.int64) * weights).sum(-1)


def _as_bm(model) -> BoltzmannMachine:
    if isinstance(model, RBM):
        return model.to_boltzmann()
    if isinstance(model, BoltzmannMachine):
        return model
    raise ValueError(f"expected a BoltzmannMachine or RBM, got {type(model).__name__}")


def exact_log_partition(model) -> float:
    """log Z by enumeration. RBMs sum out the larger layer analytically (min(n_v, n_h) ≤ 20);
    general machines enumerate all 2**N states (N ≤ 20)."""
    if isinstance(model, RBM):
        return _rbm_exact_log_z(model)
    bm = _as_bm(model)
    check_exact_size(bm.n)
    bm64 = bm.to(dtype=torch.float64)
    return float(torch.logsumexp(-bm64.energy(all_states(bm.n, device=bm.device)), 0))


def _rbm_exact_log_z(rbm: RBM) -> float:
    r = rbm.to(dtype=torch.float64)
    if r.n_visible <= r.n_hidden:
        check_exact_size(r.n_visible)
        return float(torch.logsumexp(-r.free_energy(all_states(r.n_visible, device=r.device)), 0))
    check_exact_size(r.n_hidden)
    flipped = RBM(r.W.T, r.b_h, r.b_v)
    return float(torch.logsumexp(-flipped.free_energy(all_states(r.n_hidden, device=r.device)), 0))


def exact_distribution(model) -> torch.Tensor:
    """p(z) over all 2**N states (float64, sbs state order); RBMs use z = (v, h)."""
    bm = _as_bm(model)
    check_exact_size(bm.n)
    bm64 = bm.to(dtype=torch.float64)
    logp = -bm64.energy(all_states(bm.n, device=bm.device))
    return torch.softmax(logp, 0)


def exact_marginals(model) -> torch.Tensor:
    """p(z_k = 1) for every unit by enumeration, float64 (N,)."""
    bm = _as_bm(model)
    p = exact_distribution(bm)
    return p @ all_states(bm.n, device=bm.device)


def exact_visible_distribution(rbm: RBM) -> torch.Tensor:
    """p(v) over all 2**n_v visible states (hidden summed out), float64, sbs order."""
    check_exact_size(rbm.n_visible)
    r = rbm.to(dtype=torch.float64)
    return torch.softmax(-r.free_energy(all_states(r.n_visible, device=r.device)), 0)


def random_boltzmann(n: int, seed: int = 0, scale: float = 1.0, dtype=torch.float64,
                     a: float = 1.5) -> BoltzmannMachine:
    """Random test machine: W_ij, b_i ~ scale·(2·Beta(a, a) - 1), W symmetric, zero diagonal.

    (The Heidelberg group's test problems, research notes §3.4 [R]/[V Zenk: a = 1.5].)
    """
    g = torch.Generator().manual_seed(seed)
    beta = torch.distributions.Beta(a, a)
    u = _beta_sample(beta, (n, n), g)
    W = scale * (2 * u - 1)
    W = torch.triu(W, 1)
    W = (W + W.T).to(dtype)
    b = (scale * (2 * _beta_sample(beta, (n,), g) - 1)).to(dtype)
    return BoltzmannMachine(W, b)


def random_rbm(n_visible: int, n_hidden: int, seed: int = 0, scale: float = 1.0,
               dtype=torch.float64, a: float = 1.5) -> RBM:
    """Random RBM with W, b_v, b_h ~ scale·(2·Beta(a, a) - 1)."""
    g = torch.Generator().manual_seed(seed)
    beta = torch.distributions.Beta(a, a)
    W = scale * (2 * _beta_sample(beta, (n_visible, n_hidden), g) - 1)
    bv = scale * (2 * _beta_sample(beta, (n_visible,), g) - 1)
    bh = scale * (2 * _beta_sample(beta, (n_hidden,), g) - 1)
    return RBM(W.to(dtype), bv.to(dtype), bh.to(dtype))


def _beta_sample(dist: torch.distributions.Beta, shape, g: torch.Generator) -> torch.Tensor:
    # torch's Beta/Gamma samplers take no Generator; draw by inverting the Beta(a, a) CDF
    # (tabulated on a fine grid, linear interpolation) at generator-seeded uniforms.
    a = float(dist.concentration1)
    grid = torch.linspace(0, 1, 20001, dtype=torch.float64)
    pdf = (grid.clamp(1e-12, 1 - 1e-12) ** (a - 1)) * ((1 - grid).clamp(1e-12, 1) ** (a - 1))
    cdf = torch.cumsum(pdf, 0)
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    u = torch.rand(math.prod(shape), generator=g, dtype=torch.float64)
    idx = torch.searchsorted(cdf, u).clamp(1, grid.numel() - 1)
    lo, hi = cdf[idx - 1], cdf[idx]
    frac = (u - lo) / (hi - lo).clamp_min(1e-300)
    return (grid[idx - 1] + frac * (grid[idx] - grid[idx - 1])).reshape(shape)
