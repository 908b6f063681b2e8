"""The plasticity slot in the compiled CPU kernel: BiCaLL projections (numba).

:func:`bicall_step` is one step of a :class:`lifsampling.plasticity.PlasticProjection` with the
BiCaLL rule (Soares Girão, Risi & Chicca 2025; equations in :mod:`lifsampling.plasticity.
calcium`), in the order of ``PlasticProjection.step``: traces decay (and, for ``slow="step"``,
the bistable drift), then this step's presynaptic spikes (trace jump, depression
``c_d1 H(x_post - theta_post)`` gated by the stop trace), then the postsynaptic ones (post and
stop trace jumps, gate, update ``c_p x_pre + c_d2 H(theta_pre - x_pre) H(x_pre - x_pre_min)``),
``w <- clip(w + dw, 0, 1)``. It runs in two parallel passes:

* **over chains** — the traces of each chain, and the list of its gated postsynaptic spikes;
* **over synapses** (row j = the synapses onto neuron j, parallel) — the reduction over chains:
  for ``shared`` weights (one matrix for all B chains) ``dw[i, j] = sum_b pre[b, i] dep[b, j] +
  sum_b dpost[b, i] g[b, j]`` (g: gated postsynaptic spike), for per-chain weights the same
  with one term. The weights are kept postsynaptic-major, (N, N_pre), so that a gated
  postsynaptic spike adds one contiguous vector dpost[b, :] to its row; a presynaptic spike
  adds dep[b, j] to one column. Both sums visit only the events, so a step costs
  O(events x N_pre), not O(B x N_pre x N). The sum over chains runs in chain order whatever
  the number of threads.

No fast-math here (not even inherited from the calling kernel, which would contract
``x + a (x_max - x)`` into an FMA): the traces and weights are rounded as in the torch path's
:class:`~lifsampling.plasticity.calcium.BiCaLL` (identical per-chain weights in float64; shared
weights differ from its matrix products by the order of the sum over chains).
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np
import torch

from ..plasticity.calcium import BiCaLL
from ..plasticity.projection import PlasticProjection, ProjectionState

# indices into the parameter vector (the state's dtype) of :func:`bicall_step`
_PARAMS = ("d_pre", "d_post", "d_stop", "a_pre", "a_post", "a_stop", "x_pre_max", "x_post_max",
           "x_stop_max", "theta_pre", "theta_post", "c_p", "c_d1", "c_d2", "x_pre_min",
           "theta_b", "up_per_step", "down_per_step", "w_max", "stop_low", "stop_high", "g_uS",
           "one", "zero")
# flags (int64): the feature switches, slow="step" drift, shared weights, mask present, and
# whether every hidden weight is known to lie in [0, 1] (updated by the kernel)
_FLAGS = ("bounded", "drift_each_step", "clip", "binary", "stop_learning", "depression_pre",
          "depression_post", "shared", "has_mask", "in_range")
_F = {name: k for k, name in enumerate(_FLAGS)}


def unsupported_reason(rule: Any) -> str | None:
    """Why the kernel cannot run this plasticity component (None: it can)."""
    if type(rule) is not PlasticProjection:
        return (f"plasticity component {type(rule).__name__} runs on the torch path (the kernel "
                "runs PlasticProjection with the BiCaLL rule)")
    if type(rule.rule) is not BiCaLL:
        return (f"the {type(rule.rule).__name__} rule runs on the torch path: the kernel "
                "implements BiCaLL only (Graupner-Brunel integrates each synapse's calcium with "
                "Gaussian noise and RK4 sub-steps every step)")
    return None


@nb.njit(inline="always")
def _jump(x, a, x_max, bounded):
    """Trace jump at a spike: bounded x + a (x_max - x), or additive min(x + a, x_max)."""
    if bounded:
        return x + a * (x_max - x)
    return min(x + a, x_max)


@nb.njit(inline="always")
def _gate(x_stop, low, high, on, one, zero):
    """Stop-learning gate H(x_stop - low) H(high - x_stop) (1 when switched off)."""
    if not on:
        return one
    return one if (x_stop > low) & (x_stop < high) else zero


@nb.njit(inline="always")
def _effective(w, prm, binary, one, zero):
    """g_uS x w_max x H(w - theta_b) (binary) or g_uS x w_max x w, as ``PlasticProjection``."""
    if binary:
        return prm[21] * (prm[18] * (one if w > prm[15] else zero))
    return prm[21] * (prm[18] * w)


@nb.njit(inline="always")
def _update(wr, a1, a2, er, mr, i, has_dw, clip, binary, has_mask, prm, one, zero):
    """Synapse i of a row: w <- clip(w + (dw1 + dw2)), accumulators reset, effective weight
    (idempotent once applied: the accumulators are then zero)."""
    if has_dw:
        wv = wr[i] + (a1[i] + a2[i])
        a1[i] = zero
        a2[i] = zero
        wr[i] = min(max(wv, zero), one) if clip else wv
    e = _effective(wr[i], prm, binary, one, zero)
    er[i] = e * mr[i] if has_mask else e


@nb.njit(inline="always")
def _update_row(wr, a1, a2, er, mr, has_dw, clip, binary, has_mask, prm, one, zero):
    """:func:`_update` for a whole row, the switches outside the loops (they vectorise)."""
    n = wr.shape[0]
    if has_dw:
        if clip:
            for i in range(n):
                wr[i] = min(max(wr[i] + (a1[i] + a2[i]), zero), one)
        else:
            for i in range(n):
                wr[i] = wr[i] + (a1[i] + a2[i])
        for i in range(n):
            a1[i] = zero
            a2[i] = zero
    g, w_max, th_b = prm[21], prm[18], prm[15]
    if binary:
        for i in range(n):
            er[i] = g * (w_max * (one if wr[i] > th_b else zero))
    else:
        for i in range(n):
            er[i] = g * (w_max * wr[i])
    if has_mask:
        for i in range(n):
            er[i] = er[i] * mr[i]


# fastmath=False explicitly: numba otherwise inherits the calling kernel's fast-math flags
@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath=False)
def bicall_step(pre, post, rule):
    """One BiCaLL step of a projection for this step's spikes ``pre`` (B, N_pre) and ``post``
    (B, N) (int32, 0/1). ``rule`` = (x_pre (B, N_pre), x_post (B, N), x_stop (B, N), hidden
    weights (1|B, N, N_pre), effective weights (1|B, N, N_pre) in µS, mask (N, N_pre) (read
    only if the flag says so), scratch: dw1, dw2 (like the weights, zero), dep (B, N), dpost
    (B, N_pre), gated (B, N), presynaptic spike ids (B, N_pre) and counts (B,); params, flags),
    all updated in place. The weights are stored postsynaptic-major (row j = the synapses onto
    neuron j), so a gated postsynaptic spike updates one contiguous row."""
    x_pre, x_post, x_stop, w, w_eff, mask, dw1, dw2, dep, dpost, gated, pre_idx, pre_n, prm, \
        flags = rule
    chains, n_pre = x_pre.shape
    n = x_post.shape[1]
    n_w = w.shape[0]
    one, zero = prm[22], prm[23]
    d_pre, d_post, d_stop = prm[0], prm[1], prm[2]
    a_pre, a_post, a_stop = prm[3], prm[4], prm[5]
    m_pre, m_post, m_stop = prm[6], prm[7], prm[8]
    th_pre, th_post, c_p, c_d1, c_d2, x_min = prm[9], prm[10], prm[11], prm[12], prm[13], prm[14]
    th_b, up, down, low, high = prm[15], prm[16], prm[17], prm[19], prm[20]
    bounded, drift, clip, binary = flags[0] != 0, flags[1] != 0, flags[2] != 0, flags[3] != 0
    stop_on, dep_pre, dep_post = flags[4] != 0, flags[5] != 0, flags[6] != 0
    shared, has_mask = flags[7] != 0, flags[8] != 0
    mask_step = 1 if has_mask else 0  # without a mask, row 0 of the placeholder
    any_pre = False
    for b in range(chains):
        for i in range(n_pre):
            if pre[b, i] != 0:
                any_pre = True
                break
        if any_pre:
            break
    any_post = False
    for b in range(chains):
        for j in range(n):
            if post[b, j] != 0:
                any_post = True
                break
        if any_post:
            break
    has_dw = (any_pre and dep_pre) or any_post
    # a weight outside [0, 1] (given as w0) is clipped at the first update, as the torch path's
    # dense clamp does; afterwards only the updated synapses can leave the range
    clip_all = clip and has_dw and flags[9] == 0
    # pass 1, over chains: traces, depression factors, gated postsynaptic spikes, dpost
    for b in nb.prange(chains):
        xpr, xpo, xst = x_pre[b], x_post[b], x_stop[b]
        for i in range(n_pre):
            xpr[i] = xpr[i] * d_pre
        for j in range(n):
            xpo[j] = xpo[j] * d_post
            xst[j] = xst[j] * d_stop
        m = 0
        if any_pre:
            pb = pre[b]
            for i in range(n_pre):
                if pb[i] != 0:
                    xpr[i] = _jump(xpr[i], a_pre, m_pre, bounded)
                    pre_idx[b, m] = i
                    m += 1
            if dep_pre:
                for j in range(n):
                    h = one if xpo[j] > th_post else zero
                    dep[b, j] = (c_d1 * h) * _gate(xst[j], low, high, stop_on, one, zero)
        pre_n[b] = m
        n_gated = 0
        qb, gb = post[b], gated[b]
        for j in range(n):
            gb[j] = 0
        if any_post:
            for j in range(n):
                if qb[j] != 0:
                    xpo[j] = _jump(xpo[j], a_post, m_post, bounded)
                    xst[j] = _jump(xst[j], a_stop, m_stop, bounded)
                    if _gate(xst[j], low, high, stop_on, one, zero) != zero:
                        gb[j] = 1
                        n_gated += 1
        if n_gated > 0:
            dpb = dpost[b]
            for i in range(n_pre):
                xp = xpr[i]
                dp = c_p * xp
                if dep_post:
                    dp = dp + c_d2 * (one if (xp < th_pre) & (xp > x_min) else zero)
                dpb[i] = dp
    # the presynaptic columns that spiked, per weight copy (union over its chains)
    u_pre = np.empty((n_w, n_pre), dtype=np.int64)
    u_n = np.zeros(n_w, dtype=np.int64)
    if any_pre and dep_pre:
        mark = np.zeros(n_pre, dtype=np.int64)
        for bw in range(n_w):
            b0, b1 = (0, chains) if shared else (bw, bw + 1)
            m = 0
            for b in range(b0, b1):
                for q in range(pre_n[b]):
                    i = pre_idx[b, q]
                    if mark[i] != bw + 1:
                        mark[i] = bw + 1
                        u_pre[bw, m] = i
                        m += 1
            u_n[bw] = m
    # pass 2, over synapses (row j: the synapses onto neuron j): drift, sums over chains, clip
    for p in nb.prange(n_w * n):
        bw = p // n
        j = p - bw * n
        b0, b1 = (0, chains) if shared else (bw, bw + 1)
        wr, a1, a2 = w[bw, j], dw1[bw, j], dw2[bw, j]
        er, mr = w_eff[bw, j], mask[j * mask_step]
        whole_row = clip_all or drift  # every synapse of the row may change
        if drift:
            for i in range(n_pre):
                wv = wr[i]
                if (wv <= one) & (wv >= zero):
                    wr[i] = min(wv + up, one) if wv > th_b else max(wv - down, zero)
        pre_cols = False  # only the columns of presynaptic spikes change
        if any_pre and dep_pre:
            for b in range(b0, b1):
                d = dep[b, j]
                if d == zero:
                    continue  # w + 0 = w
                pre_cols = True
                for q in range(pre_n[b]):
                    a1[pre_idx[b, q]] += d
        if any_post:
            for b in range(b0, b1):
                if gated[b, j] == 0:
                    continue
                whole_row = True
                dpb = dpost[b]
                for i in range(n_pre):
                    a2[i] += dpb[i]
        if whole_row:
            _update_row(wr, a1, a2, er, mr, has_dw, clip, binary, has_mask, prm, one, zero)
        elif pre_cols:
            for q in range(u_n[bw]):
                _update(wr, a1, a2, er, mr, u_pre[bw, q], has_dw, clip, binary, has_mask, prm,
                        one, zero)
    if clip_all:
        flags[9] = 1


class KernelProjection:
    """A BiCaLL ``PlasticProjection`` as the kernel's arrays, and back (``result``)."""

    def __init__(self, proj: PlasticProjection, chains: int, n_pre: int, n_post: int,
                 dtype: torch.dtype, dt_ms: float) -> None:
        self.proj = proj
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        state, weights = proj.init(chains, n_pre, n_post, device=torch.device("cpu"),
                                   dtype=dtype, dt_ms=dt_ms)
        self.init_state, self.init_weights, self.dtype = state, weights, dtype
        self.learn = bool(proj.learn)
        s = state.synapses
        # weights postsynaptic-major: (1|B, N, N_pre)
        self.w_eff = np.ascontiguousarray(weights.transpose(-1, -2).numpy(), dtype=np_dtype)
        self.x_pre = np.ascontiguousarray(s.pre.numpy(), dtype=np_dtype)
        self.x_post = np.ascontiguousarray(s.post.numpy(), dtype=np_dtype)
        self.x_stop = np.ascontiguousarray(s.stop.numpy(), dtype=np_dtype)
        self.w = np.ascontiguousarray(s.w.transpose(-1, -2).numpy(), dtype=np_dtype)
        p = proj.rule.p
        t = np_dtype
        if self.learn:  # (a frozen projection is a fixed one: no rule arrays)
            e = t(dt_ms) / t(p.tau_bistable_ms)  # as BiCaLL.drift: the elapsed time in dtype
            params = {
                "d_pre": math.exp(-dt_ms / p.tau_pre_ms),
                "d_post": math.exp(-dt_ms / p.tau_post_ms),
                "d_stop": math.exp(-dt_ms / p.tau_stop_ms),
                "a_pre": p.a_pre, "a_post": p.a_post, "a_stop": p.a_stop,
                "x_pre_max": p.x_pre_max, "x_post_max": p.x_post_max,
                "x_stop_max": p.x_stop_max, "theta_pre": p.theta_pre,
                "theta_post": p.theta_post, "c_p": p.c_p, "c_d1": p.c_d1, "c_d2": p.c_d2,
                "x_pre_min": p.x_pre_min, "theta_b": p.theta_bistable,
                "up_per_step": t(p.alpha) * e, "down_per_step": t(p.beta) * e,
                "w_max": p.w_max, "stop_low": p.theta_stop_low,
                "stop_high": p.theta_stop_high, "g_uS": proj.g_uS, "one": 1.0, "zero": 0.0}
            self.prm = np.array([params[k] for k in _PARAMS], dtype=np_dtype)
            flags = {"bounded": p.bounded_traces, "drift_each_step": p.bistable and
                     proj.slow == "step", "clip": p.clip, "binary": p.binary,
                     "stop_learning": p.stop_learning, "depression_pre": p.depression_pre,
                     "depression_post": p.depression_post, "shared": proj.shared,
                     "has_mask": proj.mask is not None,
                     "in_range": bool(((self.w >= 0) & (self.w <= 1)).all())}
            self.flags = np.array([int(flags[k]) for k in _FLAGS], dtype=np.int64)
            self.mask = (np.ones((1, 1), dtype=np_dtype) if proj.mask is None else
                         np.ascontiguousarray(np.broadcast_to(proj.mask.detach().cpu().numpy(),
                                                              (n_pre, n_post)).T, dtype=np_dtype))
            self.dw1 = np.zeros_like(self.w)
            self.dw2 = np.zeros_like(self.w)
            self.dep = np.zeros((chains, n_post), dtype=np_dtype)
            self.dpost = np.zeros((chains, n_pre), dtype=np_dtype)
            self.gated = np.zeros((chains, n_post), dtype=np.int64)
            self.pre_idx = np.zeros((chains, n_pre), dtype=np.int64)
            self.pre_n = np.zeros(chains, dtype=np.int64)
    @staticmethod
    def dummy(np_dtype) -> tuple:
        """The argument tuple of an absent projection (keeps the kernel's signature)."""
        z1, z2, z3 = (np.zeros((1,) * d, dtype=np_dtype) for d in (1, 2, 3))
        i1, i2 = np.zeros(1, dtype=np.int64), np.zeros((1, 1), dtype=np.int64)
        return (z2, z2, z2, z3, z3, z2, z3, z3, z2, z2, i2, i2, i1, z1,
                np.zeros(len(_FLAGS), dtype=np.int64))

    def args(self) -> tuple:
        """The ``rule`` tuple of :func:`bicall_step` (a placeholder when frozen)."""
        if not self.learn:
            return self.dummy(self.w_eff.dtype)
        return (self.x_pre, self.x_post, self.x_stop, self.w, self.w_eff, self.mask, self.dw1,
                self.dw2, self.dep, self.dpost, self.gated, self.pre_idx, self.pre_n, self.prm,
                self.flags)

    def result(self, elapsed_ms: float) -> tuple[ProjectionState, torch.Tensor]:
        """(state, weights) as the torch path returns them, after the component's ``finish``."""
        if not self.learn:
            state = self.init_state
            return self.proj.finish(state, self.init_weights, elapsed_ms)
        syn = self.init_state.synapses._replace(
            pre=torch.from_numpy(self.x_pre), post=torch.from_numpy(self.x_post),
            stop=torch.from_numpy(self.x_stop),
            w=torch.from_numpy(self.w).transpose(-1, -2).contiguous())
        state = ProjectionState(syn, None)
        return self.proj.finish(state, self.proj.weights(syn), elapsed_ms)
