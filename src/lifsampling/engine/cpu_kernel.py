"""The whole simulation loop as one compiled CPU kernel (numba): the fast path of ``simulate``.

Same model, same step schedule and same per-step statistics as :func:`.neuron.lif_step`,
:mod:`.noise` and :mod:`.synapses` (tests pin the two paths against each other); what differs is
how the work is laid out:

* **Chains in parallel, time inside.** Chains are independent, so each thread runs whole chains
  through a block of steps. One chain's state (a few arrays of N numbers) stays in the core's
  cache for the whole block instead of streaming B x N tensors through memory at every step.
* **Counter-based random numbers.** The background count of neuron i in step k of chain b is
  drawn from ``splitmix64(key_b + counter(k, i, type))`` (Steele et al. 2014's finaliser, which
  passes BigCrush on a counter): a pure function of (seed, chain, step, neuron), so the neuron
  loop has no loop-carried random state and vectorises, and a run is reproducible for its seed
  whatever the number of threads. The 53 high bits are a uniform in [0, 1) inverted through the
  Poisson CDF (tail truncated below 1e-15, as :mod:`.noise`); exc and inh counts are independent.
* **Event-driven synapses.** A spike adds ``efficacy x w[i, :]`` (one row of the weight matrix)
  to the targets' conductances one step later: O(spikes x N) per step. The Tsodyks–Markram state
  of a presynaptic neuron is advanced lazily, from its previous spike to this one, with the
  closed forms ``1 - R <- (1 - R) d_rec^h`` and ``u - U <- (u - U) d_fac^h`` (h steps): the same
  numbers as the per-step recursion of :func:`.synapses.stp_step`.

Counts, z, spikes, joint states, time-varying rates and leak schedules run here; the input
population, extra Poisson drive and BiCaLL plastic projections run in
:func:`.kernel_slots.run_block_slots` (the same per-chain step, :func:`_chain_step`, with the
chains in parallel inside each step and the plasticity a reduction over chains). What the
kernel does not run, :func:`unsupported_reason` names in one line: membrane traces, recorder
callables (Python at every step), plasticity components other than BiCaLL projections
(Graupner–Brunel among them) and more than one plastic projection per presynaptic source.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .noise import _poisson_pmf

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO53 = float(2**53)


@nb.njit(inline="always")
def _splitmix(x):
    z = (x ^ (x >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(inline="always")
def _uniform53(key, counter):
    """Uniform 53-bit integer number ``counter`` of the stream ``key``."""
    return np.int64(_splitmix(key + counter * _GOLDEN) >> _S11)


@nb.njit(inline="always")
def _count_from(x, thr, start):
    """Number of thresholds ``thr[start:]`` that the uniform integer ``x`` reaches."""
    count = 0
    for j in range(start, thr.shape[0]):
        count += x >= thr[j]
    return count


def chain_keys(seed: int, chains: int) -> np.ndarray:
    """One 64-bit key per chain, derived from the simulation seed."""
    return _chain_keys(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), chains)


@nb.njit(cache=True)
def _chain_keys(seed, chains):
    out = np.empty(chains, dtype=np.uint64)
    for b in range(chains):
        out[b] = _splitmix(_splitmix(seed) + np.uint64(b + 1) * _M2)
    return out


def poisson_thresholds(means: np.ndarray) -> np.ndarray:
    """Integer thresholds ``floor(CDF_k 2^53)``, k = 0..K-1, one row per Poisson mean.

    A count is ``sum_k [x >= T_k]`` for a uniform 53-bit integer x. Rows are padded with 2^53
    (never reached) to the longest table; the CDF is truncated where the tail drops below 1e-15.
    """
    cdfs = [np.cumsum(_poisson_pmf(float(m)))[:-1] for m in means]
    return _stack_padded([np.floor(np.minimum(c, 1.0) * _TWO53).astype(np.int64) for c in cdfs])


# Fast-math lets LLVM contract to FMAs and reassociate (needed to vectorise the membrane loop);
# no flag that assumes away NaN or infinity. error_model="numpy": no zero-division checks.
_FASTMATH = {"contract", "reassoc", "nsz", "arcp", "afn"}


_SCAN_BLOCK = 16  # neurons per block of the scan for rare events (~1 % of neurons per step)

# exp(-x) constants: clamp, 1/64, then the Taylor coefficients 1/k!, k = 0..9
_EXP_COEFFS = (40.0, 1.0 / 64.0) + tuple(1.0 / math.factorial(k) for k in range(10))


@nb.njit(inline="always")
def _exp_neg(x, cf):
    """exp(-x) for x >= 0 as (Taylor_9(-x/64))^64, x clamped to 40 (exp(-40) = 4e-18): relative
    error below 2e-7 and vectorisable (no libm call). ``cf`` = ``_EXP_COEFFS`` in the precision
    of the state, so that a float32 run stays in float32 arithmetic."""
    y = -min(x, cf[0]) * cf[1]
    p = cf[2] + y * (cf[3] + y * (cf[4] + y * (cf[5] + y * (cf[6] + y * (cf[7] + y * (
        cf[8] + y * (cf[9] + y * (cf[10] + y * cf[11]))))))))
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    p = p * p
    return p * p


@nb.njit(error_model="numpy", fastmath=_FASTMATH)
def _chain_step(b, k, key, rows, scratch, stp, recurrent, records, leak_drive, i_offset,
                neuron_c, n_ref, te, ti, stp_c, static, has_recurrent, burn, z_every,
                record_spikes):
    """Step k of chain b: slots 1-4 and 6 of the schedule (arguments as :func:`run_block`'s;
    ``rows`` = the chain's (v, g_exc, g_inh, refrac, e_leak), ``scratch`` = its (spiked, z,
    uniforms exc, uniforms inh, flag) rows, ``stp`` = (res, util, last_spike, prev_ids,
    prev_eff, prev_n), ``recurrent`` = (w, w_lo, w_hi), ``records`` = (spike_counts,
    on_steps, z_out, joint, spk_step, spk_id, spk_n)). Tuples: numba inlines at most ~30
    arguments."""
    vb, geb, gib, rb, elb = rows
    spiked, zb, xe, xi, flag = scratch
    res, util, last_spike, prev_ids, prev_eff, prev_n = stp
    w, w_lo, w_hi = recurrent
    spike_counts, on_steps, z_out, joint, spk_step, spk_id, spk_n = records
    n = vb.shape[0]
    gl, dt_over_cm, vth, vreset = neuron_c[0], neuron_c[1], neuron_c[2], neuron_c[3]
    ee, ei, de, di = neuron_c[4], neuron_c[5], neuron_c[6], neuron_c[7]
    me, mi, w_bg_e, w_bg_i, zero = neuron_c[8], neuron_c[9], neuron_c[10], neuron_c[11], \
        neuron_c[12]
    cf = neuron_c[13:]
    big_u, log_rec, log_fac, wscale = stp_c[0], stp_c[1], stp_c[2], stp_c[3]
    n_joint = joint.shape[1]
    facilitation = log_fac > -np.inf
    n_ref32, one32, zero32 = np.int32(n_ref), np.int32(1), np.int32(0)
    te0, te1, te2 = te[0], te[1], te[2]
    ti0, ti1, ti2 = ti[0], ti[1], ti[2]
    counter0 = np.uint64(k) * np.uint64(2 * n)
    # 1-2: membrane and threshold
    for i in range(n):
        gem = geb[i] * me
        gim = gib[i] * mi
        g_tot = gl + gem + gim
        u_inf = (gl * elb[i] + leak_drive + gem * ee + gim * ei + i_offset[i]) / g_tot
        v_free = u_inf + (vb[i] - u_inf) * _exp_neg(dt_over_cm * g_tot, cf)
        r = rb[i]
        s = (v_free >= vth) & (r <= zero32)
        vb[i] = vreset if (r > zero32) | s else v_free
        rb[i] = n_ref32 if s else max(r - one32, zero32)
        spiked[i] = s
        zb[i] = s | (r > one32)
    # 3: conductance decay and this step's background counts
    for i in range(n):
        c = counter0 + np.uint64(2 * i)
        a = _uniform53(key, c)
        q = _uniform53(key, c + np.uint64(1))
        xe[i] = a
        xi[i] = q
        # bool x state-dtype products keep float32 runs in float32
        jump_e = (a >= te0) * w_bg_e + (a >= te1) * w_bg_e + (a >= te2) * w_bg_e
        jump_i = (q >= ti0) * w_bg_i + (q >= ti1) * w_bg_i + (q >= ti2) * w_bg_i
        geb[i] = geb[i] * de + jump_e
        gib[i] = gib[i] * di + jump_i
        flag[i] = spiked[i] | np.int32(a >= te2) | np.int32(q >= ti2)
    # recurrent jumps of the previous step's spikes land now (one-step delay)
    for m in range(prev_n[b]):
        pre = prev_ids[b, m]
        lo, hi = w_lo[pre], w_hi[pre]
        row, ge_t, gi_t = w[pre, lo:hi], geb[lo:hi], gib[lo:hi]  # 0-based: vectorises
        eff = prev_eff[b, m]
        for j in range(hi - lo):
            wj = row[j]
            ge_t[j] += eff * max(wj, zero)
            gi_t[j] += eff * max(-wj, zero)
    # the rare flagged neurons, in blocks of 16 skipped when none is flagged: background
    # counts beyond 3 (Poisson tail) and this step's spikes (efficacy, records)
    cnt = 0
    record = k >= burn
    for blk in range(0, n, _SCAN_BLOCK):
        top = min(blk + _SCAN_BLOCK, n)
        fb = flag[blk:top]
        flagged = np.int32(0)
        for j in range(top - blk):
            flagged |= fb[j]
        if flagged == 0:
            continue
        for j in range(top - blk):
            if fb[j] == 0:
                continue
            i = blk + j
            if xe[i] >= te2:
                geb[i] += _count_from(xe[i], te, 3) * w_bg_e
            if xi[i] >= ti2:
                gib[i] += _count_from(xi[i], ti, 3) * w_bg_i
            if not spiked[i]:
                continue
            if has_recurrent:
                if static:
                    eff = wscale
                else:
                    h = k - last_spike[b, i]
                    r_av = 1.0 - (1.0 - res[b, i]) * math.exp(h * log_rec)
                    u_now = big_u + (util[b, i] - big_u) * math.exp(h * log_fac)
                    if facilitation:
                        u_now = u_now + big_u * (1.0 - u_now)
                    eff = u_now * r_av
                    res[b, i] = r_av - eff
                    util[b, i] = u_now
                    last_spike[b, i] = k
                    eff = eff * wscale
                prev_ids[b, cnt] = i
                prev_eff[b, cnt] = eff
                cnt += 1
            if record and record_spikes:
                p = spk_n[b]
                spk_step[b, p] = k - burn
                spk_id[b, p] = i
                spk_n[b] = p + 1
    prev_n[b] = cnt
    if record:
        for i in range(n):
            spike_counts[b, i] += spiked[i]
            on_steps[b, i] += zb[i]
        kk = k - burn
        if z_every > 0 and kk % z_every == 0:
            row_z = z_out[kk // z_every, b]
            for i in range(n):
                row_z[i] = zb[i]
        if n_joint > 0:
            idx = 0
            for i in range(n):
                idx = idx * 2 + zb[i]
            joint[b, idx] += 1


@nb.njit(parallel=True, cache=True, error_model="numpy", fastmath=_FASTMATH)
def run_block(v, g_exc, g_inh, refrac, res, util, last_spike, prev_ids, prev_eff, prev_n,
              e_leak, leak_shift, i_offset, neuron_c, n_ref, w, w_lo, w_hi, stp_c, static,
              has_recurrent,
              thr_e, thr_i, tab_of_step, keys, k_start, k_stop, burn,
              spike_counts, on_steps, z_every, z_out, joint, record_spikes,
              spk_step, spk_id, spk_n):
    """Advance B chains from step ``k_start`` to ``k_stop`` (absolute step numbers).

    The leak of step k is ``e_leak + leak_shift[k - k_start]``. State arrays are (B, N) and
    updated in place; ``prev_*`` hold each chain's spikes of the
    previous step (ids, efficacies, count) whose jumps land at the end of the next step.
    Row i of ``w`` is zero outside columns ``w_lo[i]:w_hi[i]`` (e.g. a layered network).
    ``neuron_c`` = [g_l, dt/C_m, v_th, v_reset, E_exc, E_inh, decay_exc, decay_inh, mean_exc,
    mean_inh, w_bg_exc, w_bg_inh, 0] followed by ``_EXP_COEFFS``, all in the dtype of the state
    (float32 or float64: the arithmetic stays in it); ``stp_c`` = [U, log d_rec, log d_fac,
    weight_scale] in float64. Threshold rows have at least 3 entries: counts up to 3 are summed
    branch-free, larger ones (and spikes) in one scan that skips blocks without a flagged neuron.
    """
    b_count, n = v.shape
    gl = neuron_c[0]
    stp = (res, util, last_spike, prev_ids, prev_eff, prev_n)
    recurrent = (w, w_lo, w_hi)
    records = (spike_counts, on_steps, z_out, joint, spk_step, spk_id, spk_n)
    for b in nb.prange(b_count):
        key = keys[b]
        vb, geb, gib, rb = v[b], g_exc[b], g_inh[b], refrac[b]
        elb = e_leak[b]
        spiked = np.zeros(n, dtype=np.int32)
        zb = np.zeros(n, dtype=np.int32)
        xe = np.zeros(n, dtype=np.int64)
        xi = np.zeros(n, dtype=np.int64)
        flag = np.zeros(n, dtype=np.int32)
        rows = (vb, geb, gib, rb, elb)
        scratch = (spiked, zb, xe, xi, flag)
        for k in range(k_start, k_stop):
            tab = tab_of_step[k - k_start]
            leak_drive = gl * leak_shift[k - k_start]  # g_l x (common shift of the leak)
            _chain_step(b, k, key, rows, scratch, stp, recurrent, records, leak_drive, i_offset,
                        neuron_c, n_ref, thr_e[tab], thr_i[tab], stp_c, static, has_recurrent,
                        burn, z_every, record_spikes)


def background_counts(seed: int, chains: int, steps: int, n: int, mean_exc: float,
                      mean_inh: float) -> tuple[np.ndarray, np.ndarray]:
    """The (exc, inh) background counts, each (chains, steps, n), that :func:`run_block` draws
    for constant means ``nu dt`` and this seed (for tests of the random stream)."""
    te, ti = poisson_thresholds(np.array([mean_exc, mean_inh]))
    return _background_counts(chain_keys(seed, chains), steps, n, te, ti)


@nb.njit(cache=True)
def _background_counts(keys, steps, n, te, ti):
    e = np.zeros((keys.shape[0], steps, n), dtype=np.int64)
    i_ = np.zeros((keys.shape[0], steps, n), dtype=np.int64)
    for b in range(keys.shape[0]):
        for k in range(steps):
            for i in range(n):
                c = np.uint64(k) * np.uint64(2 * n) + np.uint64(2 * i)
                a = _uniform53(keys[b], c)
                q = _uniform53(keys[b], c + np.uint64(1))
                e[b, k, i] = _count_from(a, te, 0)
                i_[b, k, i] = _count_from(q, ti, 0)
    return e, i_


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------
BLOCK_STEPS = 1000  # steps per kernel call: bounds the spike buffers, paces the progress bar
SPIKE_BUFFER_BYTES = 64 * 1024**2  # per block, when spikes are recorded


def block_steps(chains: int, n: int, n_ref: int, record_spikes: bool) -> int:
    """Steps per block: 1000, fewer when a block's worst-case spike buffer (every neuron firing
    once per tau_ref + dt, 12 bytes a spike) would exceed ``SPIKE_BUFFER_BYTES``."""
    if not record_spikes:
        return BLOCK_STEPS
    per_refractory_period = chains * n * 12
    return max(1, min(BLOCK_STEPS, SPIKE_BUFFER_BYTES // per_refractory_period * (n_ref + 1)))


def unsupported_reason(net, rec, e_leak_schedule, device, *, initial_state=None,
                       plasticity=()) -> str | None:
    """Why the kernel cannot run this simulation, in one line (None: it can). The pluggable
    components of :func:`lifsampling.engine.simulate` (input, drive, plasticity, recorders) are
    checked by :func:`.kernel_slots.unsupported_reason`; ``initial_state`` and the plasticity
    components together here (a continued run's spikes in flight through a recurrent plastic
    projection are not handed to the slot kernel)."""
    if device.type != "cpu":
        return "the compiled kernel runs on the CPU only"
    if rec.trace_neurons:
        return "membrane traces are recorded by the torch path"
    if initial_state is not None and any(getattr(r, "pre", None) == "network"
                                         for r in plasticity):
        return ("continuing an initial_state with a recurrent plastic projection runs on the "
                "torch path")
    return None


class _ThresholdCache:
    """Poisson thresholds per step for constant or time-varying rates (cached per rate)."""

    def __init__(self, noise, dt_ms: float) -> None:
        self.noise, self.dt_ms = noise, dt_ms
        self._rows: dict[float, np.ndarray] = {}

    def _row(self, rate_hz: float) -> np.ndarray:
        row = self._rows.get(rate_hz)
        if row is None:
            if rate_hz < 0:
                raise ValueError(f"background rates must be >= 0 Hz, got {rate_hz}")
            row = poisson_thresholds(np.array([rate_hz * self.dt_ms * 1e-3]))[0]
            if len(self._rows) > 8192:
                self._rows.clear()
            self._rows[rate_hz] = row
        return row

    def block(self, k_start: int, k_stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thr_exc, thr_inh, row index of every step) for steps k_start..k_stop-1."""
        if not self.noise.time_varying:
            re, ri = self.noise.rates_at(0.0)
            return (self._row(re)[None], self._row(ri)[None],
                    np.zeros(k_stop - k_start, dtype=np.int64))
        pairs = [self.noise.rates_at((k + 0.5) * self.dt_ms) for k in range(k_start, k_stop)]
        uniq = {p: j for j, p in enumerate(dict.fromkeys(pairs))}
        rows_e = [self._row(p[0]) for p in uniq]
        rows_i = [self._row(p[1]) for p in uniq]
        return (_stack_padded(rows_e), _stack_padded(rows_i),
                np.array([uniq[p] for p in pairs], dtype=np.int64))


def _stack_padded(rows: list[np.ndarray]) -> np.ndarray:
    """Threshold rows padded with 2^53 (never reached) to a common length of at least 3."""
    k = max(3, max(len(r) for r in rows))
    out = np.full((len(rows), k), 2**53, dtype=np.int64)
    for j, r in enumerate(rows):
        out[j, : len(r)] = r
    return out


def _leak_segments(schedule, e_leak: np.ndarray, k0: int, k1: int, dt_ms: float, chains: int,
                   n: int):
    """(start, stop, leak (B, N), shift per step): runs of steps whose leak is one (B, N) array
    plus a shift common to all neurons and chains (tempering's u0 compensation changes every few
    steps; a new run starts only where the schedule changes otherwise, e.g. initial forcing)."""
    if schedule is None:
        yield k0, k1, e_leak, np.zeros(k1 - k0, dtype=e_leak.dtype)
        return
    import torch

    shifts = np.zeros(k1 - k0, dtype=np.float64)
    start, base, base_arr, last, last_shift = k0, None, None, None, 0.0
    for k in range(k0, k1):
        x = schedule(k * dt_ms)
        if x is not last:
            xt = torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)
            shift = _uniform_shift(xt, base)
            if shift is None:
                if base is not None:
                    yield start, k, base_arr, shifts[start - k0:k - k0].astype(e_leak.dtype)
                base, start, shift = xt, k, 0.0
                base_arr = np.array(np.broadcast_to(xt.numpy(), (chains, n)), dtype=e_leak.dtype,
                                    order="C")
            last, last_shift = x, shift
        shifts[k - k0] = last_shift
    yield start, k1, base_arr, shifts[start - k0:].astype(e_leak.dtype)


def _uniform_shift(x, base, tol_mV: float = 1e-5) -> float | None:
    """``c`` if ``x = base + c`` for one number c (within ``tol_mV``), else None."""
    if base is None or x.shape != base.shape:
        return None
    d = x - base
    lo, hi = float(d.min()), float(d.max())
    return 0.5 * (lo + hi) if hi - lo <= tol_mV else None


def _kernel_arrays(start, n_ref: int, np_dtype, stp_on: bool) -> tuple[int, tuple]:
    """The kernel's state arrays from a :class:`.state.SimulationState`: its synapses as if
    they had last been updated in the step before (``last_spike = step - 1``), its last step's
    spikes (countdown = n_ref) with their efficacies as the spikes in flight."""
    import torch

    step0 = int(start.step)

    def arr(t, dt):
        return np.array(t.detach().to(device="cpu", dtype=torch.float64).numpy(), dtype=dt,
                        order="C")

    v, g_exc, g_inh = (arr(t, np_dtype) for t in (start.v_mV, start.g_exc_uS, start.g_inh_uS))
    refrac = arr(start.refrac_steps, np.int32)
    res, util = arr(start.stp_resources, np.float64), arr(start.stp_utilisation, np.float64)
    chains, n = v.shape
    last_spike = np.full((chains, n), step0 - 1, dtype=np.int64)
    prev_ids = np.zeros((chains, n), dtype=np.int64)
    prev_eff = np.zeros((chains, n), dtype=np_dtype)
    prev_n = np.zeros(chains, dtype=np.int64)
    if stp_on:
        eff = arr(start.efficacy, np_dtype)
        for b in range(chains):
            ids = np.flatnonzero(refrac[b] == n_ref)
            prev_ids[b, : ids.size] = ids
            prev_eff[b, : ids.size] = eff[b, ids]
            prev_n[b] = ids.size
    return step0, (v, g_exc, g_inh, refrac, res, util, last_spike, prev_ids, prev_eff, prev_n)


def _final_state(v, g_exc, g_inh, refrac, res, util, last_spike, prev_ids, prev_eff, prev_n,
                 clock: int, dt_ms: float, stp_c: np.ndarray, stp_advanced: bool):
    """The :class:`.state.SimulationState` after step ``clock - 1``: the lazily updated
    synapses brought up to that step (``1 - R <- (1 - R) d_rec^h``, ``u - U <- (u - U)
    d_fac^h``, h = steps since their last update), the last step's spikes in flight as the
    efficacy array. Without recurrent synapses (or with additive ones) the synaptic state is
    not advanced, as on the torch path."""
    import torch

    from .state import SimulationState

    r_out, u_out = res.copy(), util.copy()
    if stp_advanced:
        h = (clock - 1 - last_spike).astype(np.float64)
        big_u, log_rec, log_fac = stp_c[0], stp_c[1], stp_c[2]
        with np.errstate(invalid="ignore", over="ignore"):
            d_rec = np.where(h == 0, 1.0, np.exp(h * log_rec))
            d_fac = np.where(h == 0, 1.0, np.exp(h * log_fac))
        r_out = 1.0 - (1.0 - res) * d_rec
        u_out = big_u + (util - big_u) * d_fac
    eff = np.zeros_like(v)
    for b in range(v.shape[0]):
        m = int(prev_n[b])
        eff[b, prev_ids[b, :m]] = prev_eff[b, :m]
    t = torch.from_numpy
    dtype = t(v).dtype
    return SimulationState(t(v.copy()), t(g_exc.copy()), t(g_inh.copy()), t(refrac.copy()),
                           t(r_out).to(dtype), t(u_out).to(dtype), t(eff), clock, dt_ms)


def _log_or_minus_inf(d: float) -> float:
    """log of a per-step decay factor; 0 (recovers within one step) -> -inf."""
    return math.log(d) if d > 0 else -math.inf


def run_kernel(net, steps: int, burn: int, chains: int, dt_ms: float, seed: int, dtype,
               rec, v0_mV: float | None, progress_bar=None, e_leak_schedule=None,
               plan=None, start=None) -> dict:
    """Run ``simulate``'s loop in :func:`run_block` (or, given the ``plan`` of input, drive or
    plasticity components, a :class:`.kernel_slots.SlotPlan`, in its compiled slot kernel);
    returns the recordings as numpy arrays (and ``"plasticity"``: the components' states and
    weights), and ``"final_state"``, the :class:`.state.SimulationState` after the last step.
    ``start`` (a :class:`.state.SimulationState`) continues a run: steps are numbered from its
    clock on (random stream, background rates, leak schedule), recordings from its burn-in.

    A leak schedule is evaluated at every step and the block is cut where its value changes
    (schedules that return the same tensor object for a held value cost nothing to compare).
    """
    import torch

    from .neuron import make_constants
    from .synapses import make_stp_constants

    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    n = net.n
    e_leak_t = net.e_leak_mV.to(dtype=torch.float64)
    c = make_constants(net.neuron, e_leak_t, dt_ms)
    e_leak = np.array(np.broadcast_to(e_leak_t.numpy(), (chains, n)), dtype=np_dtype, order="C")
    i_offset = np.array(np.broadcast_to(np.asarray(c.i_offset.numpy(), dtype=np_dtype), (n,)),
                        order="C")
    neuron_c = np.array([c.g_leak, c.dt / c.cm, c.v_thresh, c.v_reset, c.e_exc, c.e_inh,
                         c.decay_exc, c.decay_inh, c.mean_exc, c.mean_inh, net.noise.w_exc_uS,
                         net.noise.w_inh_uS, 0.0, *_EXP_COEFFS], dtype=np_dtype)
    sc = make_stp_constants(net.synapse, net.neuron, dt_ms)
    stp_c = np.array([sc.U, _log_or_minus_inf(sc.decay_rec), _log_or_minus_inf(sc.decay_fac),
                      sc.weight_scale], dtype=np.float64)
    w = np.ascontiguousarray(net.weights_uS.detach().cpu().numpy(), dtype=np_dtype)
    has_recurrent = bool((w != 0).any())
    nonzero = w != 0
    w_lo = np.where(nonzero.any(1), nonzero.argmax(1), 0).astype(np.int64)
    w_hi = np.where(nonzero.any(1), n - nonzero[:, ::-1].argmax(1), 0).astype(np.int64)

    n_ref = c.n_ref
    stp_on = has_recurrent or (plan is not None and plan.recurrent_plastic)
    if start is None:
        step0 = 0
        v = (e_leak.copy() if v0_mV is None else np.full((chains, n), v0_mV, dtype=np_dtype))
        g_exc = np.zeros((chains, n), dtype=np_dtype)
        g_inh = np.zeros((chains, n), dtype=np_dtype)
        refrac = np.zeros((chains, n), dtype=np.int32)
        res = np.ones((chains, n), dtype=np.float64)
        util = np.full((chains, n), sc.U, dtype=np.float64)
        last_spike = np.full((chains, n), -(2**40), dtype=np.int64)
        prev_ids = np.zeros((chains, n), dtype=np.int64)
        prev_eff = np.zeros((chains, n), dtype=np_dtype)
        prev_n = np.zeros(chains, dtype=np.int64)
    else:
        step0, arrays = _kernel_arrays(start, n_ref, np_dtype, stp_on)
        v, g_exc, g_inh, refrac, res, util, last_spike, prev_ids, prev_eff, prev_n = arrays

    spike_counts = np.zeros((chains, n), dtype=np.int64)
    on_steps = np.zeros((chains, n), dtype=np.int64)
    z_every = max(1, round(rec.z_every_ms / dt_ms)) if rec.z_every_ms else 0
    z_all = (np.zeros(((steps - 1) // z_every + 1, chains, n), dtype=np.uint8)
             if z_every else np.zeros((1, 1, 1), dtype=np.uint8))
    joint = np.zeros((chains, 2**n if rec.joint_states else 0), dtype=np.int64)
    keys = chain_keys(seed, chains)
    thresholds = _ThresholdCache(net.noise, dt_ms)
    spike_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    total = burn + steps
    burn_to = step0 + burn  # absolute step numbers from here on
    block = block_steps(chains, n, n_ref, bool(rec.spikes))
    for k0 in range(step0, step0 + total, block):
        k1 = min(step0 + total, k0 + block)
        thr_e, thr_i, tab = thresholds.block(k0, k1)
        cap = (n * ((k1 - k0) // (n_ref + 1) + 1)) if rec.spikes else 1
        spk_step = np.zeros((chains, cap), dtype=np.int64)
        spk_id = np.zeros((chains, cap), dtype=np.int32)
        spk_n = np.zeros(chains, dtype=np.int64)
        segments = _leak_segments(e_leak_schedule, e_leak, k0, k1, dt_ms, chains, n)
        for s0, s1, leak, shift in segments:
            if plan is not None:
                plan.run((v, g_exc, g_inh, refrac), (res, util, last_spike, prev_ids, prev_eff,
                         prev_n), (w, w_lo, w_hi), (spike_counts, on_steps, z_all, joint,
                         spk_step, spk_id, spk_n), leak, shift, i_offset, neuron_c, n_ref, stp_c,
                         sc.static, has_recurrent, thr_e, thr_i, tab[s0 - k0:s1 - k0], keys, s0,
                         s1, burn_to, z_every, bool(rec.spikes))
                continue
            run_block(v, g_exc, g_inh, refrac, res, util, last_spike, prev_ids, prev_eff, prev_n,
                      leak, shift, i_offset, neuron_c, n_ref, w, w_lo, w_hi, stp_c, sc.static,
                      has_recurrent, thr_e, thr_i, tab[s0 - k0:s1 - k0], keys, s0, s1, burn_to,
                      spike_counts, on_steps, z_every,
                      z_all, joint, bool(rec.spikes), spk_step, spk_id, spk_n)
        if rec.spikes and spk_n.any():
            ch = np.repeat(np.arange(chains), spk_n)
            mask = np.arange(cap)[None, :] < spk_n[:, None]
            spike_chunks.append((spk_step[mask], ch, spk_id[mask].astype(np.int64)))
        if progress_bar is not None:
            progress_bar[0].update(progress_bar[1], completed=k1 - step0)
    out = {"spike_counts": spike_counts, "on_steps": on_steps,
           "final_state": _final_state(v, g_exc, g_inh, refrac, res, util, last_spike,
                                       prev_ids, prev_eff, prev_n, step0 + total, dt_ms, stp_c,
                                       stp_on and not sc.static)}
    if plan is not None:
        out["plasticity"] = plan.plasticity_results(total * dt_ms)
    if plan is not None and plan.inp[0].shape[1] > 0:
        out["input_spike_counts"] = plan.inp[-1].copy()
    if rec.spikes:
        if spike_chunks:
            st, ch, ids = (np.concatenate(x) for x in zip(*spike_chunks, strict=True))
            order = np.lexsort((ids, ch, st))  # the torch path's order: step, chain, neuron
            out["spikes"] = (st[order], ch[order], ids[order])
        else:
            empty = np.zeros(0, dtype=np.int64)
            out["spikes"] = (empty, empty.copy(), empty.copy())
    if z_every:
        out["z_samples"] = z_all.astype(bool)
    if rec.joint_states:
        out["joint_counts"] = joint
    return out
