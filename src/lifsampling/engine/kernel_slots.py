"""The drive and plasticity slots in the compiled CPU kernel (numba): ``PoissonInput``,
``PoissonDrive`` and BiCaLL ``PlasticProjection`` components.

:func:`run_block_slots` runs the schedule of :mod:`lifsampling.engine` with these components,
one compiled time loop per block of steps. Shared plastic weights couple the chains, so the
layout differs from :func:`.cpu_kernel.run_block` (which runs whole chains per thread): every
step runs the neurons in parallel over chains, then the plasticity as a reduction over chains
in parallel over synapses (:func:`.kernel_plasticity.bicall_step`). Per step and chain:

1. **drive** — input spikes: source i fires with probability ``rate dt`` (a counter-based
   uniform of the chain's input stream below ``floor(rate dt 2^53)``); Poisson background and
   the previous step's recurrent jumps (:func:`.cpu_kernel._chain_step`); at the end of the step
   the input's fixed projection, the input plastic projection (rows of the spiking sources) and
   each ``PoissonDrive``'s counts (inverted through its tabulated Poisson CDF);
2.-4. membrane, STP and propagation (:func:`.cpu_kernel._chain_step`); a recurrent plastic
   projection's jumps are formed with the weights of this step, before its update;
5. **plasticity** — the input projection, then the recurrent one;
6. **recording** — as :func:`.cpu_kernel.run_block`.

Random numbers are ``splitmix64`` counters as in :mod:`.cpu_kernel`, one stream per slot (input,
each drive's excitatory and inhibitory counts), so a run is reproducible for its seed whatever
the number of threads; they are not the torch path's numbers.
"""

from __future__ import annotations

import hashlib
import inspect

import numba as nb
import numpy as np
import torch

from .cpu_kernel import (
    _FASTMATH,
    _chain_step,
    _splitmix,
    _stack_padded,
    _uniform53,
    chain_keys,
    poisson_thresholds,
)
from .kernel_plasticity import KernelProjection, bicall_step

MAX_DRIVE_RATES = 4096  # distinct PoissonDrive means the kernel tabulates (one CDF each)
_TWO53 = float(2**53)


def _linked_sources_digest() -> int:
    """A digest of the modules whose jitted functions :func:`run_block_slots` calls and embeds
    (the per-chain step of :mod:`.cpu_kernel`, the rule of :mod:`.kernel_plasticity`). numba
    keys a cached function on its own bytecode and file only; passing this digest in as a
    closure constant makes an edit of either module recompile the kernel instead of loading
    stale machine code."""
    from . import cpu_kernel, kernel_plasticity

    h = hashlib.sha256()
    for mod in (cpu_kernel, kernel_plasticity):
        h.update(inspect.getsource(mod).encode())
    return int.from_bytes(h.digest()[:7], "little")


def _compile(linked: int):
    """:func:`run_block_slots`, with ``linked`` (:func:`_linked_sources_digest`) in its cache
    key."""

    @nb.njit(parallel=True, cache=True, error_model="numpy", fastmath=_FASTMATH)
    def run_block_slots(state, stp, recurrent, records, scratch, e_leak, leak_shift, i_offset,
                        neuron_c, n_ref, stp_c, static, has_recurrent, thr_e, thr_i, tab_of_step,
                        keys, k_start, k_stop, burn, z_every, record_spikes, inp, drv, plastic_in,
                        plastic_rec, rule_in, learn_in, rule_rec, learn_rec):
        """Advance B chains from step ``k_start`` to ``k_stop`` with the slot components.

        Arguments as :func:`.cpu_kernel.run_block`'s, grouped: ``state`` = (v, g_exc, g_inh,
        refrac), ``stp`` = (res, util, last_spike, prev_ids, prev_eff, prev_n), ``recurrent`` = (w,
        w_lo, w_hi), ``records`` = (spike_counts, on_steps, z_out, joint, spk_step, spk_id, spk_n),
        ``scratch`` = (spiked, z, uniforms exc, uniforms inh, flag), all (B, N). Slots:
        ``inp`` = (thresholds (1|B, N_in) int64, keys (B,), fixed exc and inh weights (N_in, N),
        flags [has exc, exc rows uniform, has inh, inh rows uniform], input spikes (B, N_in) int32,
        the sources with a rate > 0 (1|B, N_in) and their counts, this step's spiking sources
        (B, N_in) and their counts, the mother process's threshold (1|B,) (-1: independent
        sources; else the thresholds above are conditional on a mother spike) and keys (B,),
        the sources' spike counts after the burn-in (B, N_in));
        ``drv`` = (CDF thresholds (R, K), row of each stream, chain and neuron (S, B, N) (-1: no
        drive), jump per count (S,), inhibitory? (S,), keys (S, B)); ``plastic_in`` = (effective
        weights (1|B, N, N_in) µS, postsynaptic-major, on); ``plastic_rec`` = (effective weights
        (1|B, N, N), postsynaptic-major, pending jumps (B, N), on); ``rule_*`` the
        :func:`.kernel_plasticity.bicall_step` tuples.
        """
        if linked < 0:  # never: ``linked`` only keys numba's cache
            return
        v, g_exc, g_inh, refrac = state
        res, util, last_spike, prev_ids, prev_eff, prev_n = stp
        spiked, zs, xes, xis, flags = scratch
        (in_thr, in_keys, in_we, in_wi, in_flags, spk_in, in_nz, in_nz_n, in_list, in_list_n,
         in_mthr, in_mkeys, in_count) = inp
        dr_thr, dr_row, dr_w, dr_inh, dr_keys = drv
        pin_w, pin_on = plastic_in
        prec_w, pend, prec_on = plastic_rec
        b_count, n = v.shape
        n_in = in_thr.shape[1]
        n_drive = dr_row.shape[0]
        n_cdf = dr_thr.shape[1]
        has_e, uni_e, has_i, uni_i = in_flags[0] != 0, in_flags[1] != 0, in_flags[2] != 0, \
            in_flags[3] != 0
        gl, zero = neuron_c[0], neuron_c[12]
        # 0 where one array serves all chains, 1 where each chain has its own row
        rate_step = min(in_thr.shape[0] - 1, 1)
        pin_step, prec_step = min(pin_w.shape[0] - 1, 1), min(prec_w.shape[0] - 1, 1)
        for k in range(k_start, k_stop):
            tab = tab_of_step[k - k_start]
            leak_drive = gl * leak_shift[k - k_start]
            te, ti = thr_e[tab], thr_i[tab]
            for b in nb.prange(b_count):
                # 1. this step's input spikes
                sb = spk_in[b]
                m_in = 0
                if n_in > 0:
                    for q in range(in_list_n[b]):  # clear the previous step's spikes
                        sb[in_list[b, q]] = 0
                    r = b * rate_step
                    kin = in_keys[b]
                    c0 = np.uint64(k) * np.uint64(n_in)
                    n_try = in_nz_n[r]
                    if in_mthr[r] >= 0 and not _uniform53(in_mkeys[b], np.uint64(k)) < in_mthr[r]:
                        n_try = 0  # correlated input: no mother spike, no source spikes
                    for q in range(n_try):  # only the sources with a rate > 0
                        i = in_nz[r, q]
                        if _uniform53(kin, c0 + np.uint64(i)) < in_thr[r, i]:
                            sb[i] = 1
                            if k >= burn:
                                in_count[b, i] += 1
                            in_list[b, m_in] = i
                            m_in += 1
                    in_list_n[b] = m_in
                # 1.-4. background, previous recurrent jumps, membrane, STP, propagation, records
                geb, gib = g_exc[b], g_inh[b]
                _chain_step(b, k, keys[b], (v[b], geb, gib, refrac[b], e_leak[b]),
                            (spiked[b], zs[b], xes[b], xis[b], flags[b]), stp, recurrent, records,
                            leak_drive, i_offset, neuron_c, n_ref, te, ti, stp_c, static,
                            has_recurrent, burn, z_every, record_spikes)
                # jumps at the end of this step: input (fixed and plastic projections), drive
                if n_in > 0:
                    sum_e = zero
                    sum_i = zero
                    pw = pin_w[b * pin_step]
                    for q in range(m_in):
                        i = in_list[b, q]
                        if has_e:
                            if uni_e:
                                sum_e += in_we[i, 0]
                            else:
                                row = in_we[i]
                                for j in range(n):
                                    geb[j] += row[j]
                        if has_i:
                            if uni_i:
                                sum_i += in_wi[i, 0]
                            else:
                                row = in_wi[i]
                                for j in range(n):
                                    gib[j] += row[j]
                        if pin_on:  # column i of the postsynaptic-major weights
                            for j in range(n):
                                geb[j] += pw[j, i]
                    if has_e and uni_e:
                        for j in range(n):
                            geb[j] += sum_e
                    if has_i and uni_i:
                        for j in range(n):
                            gib[j] += sum_i
                c0 = np.uint64(k) * np.uint64(n)
                for s in range(n_drive):
                    kd = dr_keys[s, b]
                    ws = dr_w[s]
                    inh = dr_inh[s] != 0
                    for j in range(n):
                        r = dr_row[s, b, j]
                        if r < 0:
                            continue
                        x = _uniform53(kd, c0 + np.uint64(j))
                        count = 0
                        while count < n_cdf and x >= dr_thr[r, count]:
                            count += 1
                        if count > 0:
                            if inh:
                                gib[j] += count * ws
                            else:
                                geb[j] += count * ws
                # the recurrent plastic projection: last step's jumps land, this step's are formed
                if prec_on:
                    pb = pend[b]
                    for j in range(n):
                        geb[j] += pb[j]
                        pb[j] = zero
                    pw = prec_w[b * prec_step]
                    for m in range(prev_n[b]):
                        pre = prev_ids[b, m]
                        eff = prev_eff[b, m]
                        for j in range(n):
                            pb[j] += eff * pw[j, pre]
            # 5. plasticity: reductions over chains, parallel over synapses
            if learn_in:
                bicall_step(spk_in, spiked, rule_in)
            if learn_rec:
                bicall_step(spiked, spiked, rule_rec)
    return run_block_slots


run_block_slots = _compile(_linked_sources_digest())


@nb.njit(cache=True)
def _stream_keys(keys, stream):
    out = np.empty_like(keys)
    for b in range(keys.shape[0]):
        out[b] = _splitmix(keys[b] ^ (np.uint64(stream) * np.uint64(0xD1B54A32D192ED03)))
    return out


def unsupported_reason(slots) -> str | None:
    """Why the kernel cannot run these slot components (None: it can)."""
    from .kernel_plasticity import unsupported_reason as rule_reason

    if slots.recorders:
        return "recorder callables run on the torch path (they need Python at every step)"
    pre_kinds = [getattr(r, "pre", None) for r in slots.plasticity]
    for rule in slots.plasticity:
        reason = rule_reason(rule)
        if reason is not None:
            return reason
    if pre_kinds.count("input") > 1 or pre_kinds.count("network") > 1:
        return ("the kernel runs at most one plastic projection from the input and one from "
                "the network; more run on the torch path")
    for d in slots.drive:
        for rate in (d.rate_exc_hz, d.rate_inh_hz):
            if rate is not None and torch.as_tensor(rate).unique().numel() > MAX_DRIVE_RATES:
                return (f"PoissonDrive with more than {MAX_DRIVE_RATES} distinct rates runs on "
                        "the torch path (the kernel tabulates one Poisson CDF per rate)")
    return None


class SlotPlan:
    """The slot components of one run as the kernel's arrays."""

    def __init__(self, slots, chains: int, n: int, dt_ms: float, seed: int,
                 dtype: torch.dtype) -> None:
        cpu = torch.device("cpu")
        np_dtype = np.float64 if dtype == torch.float64 else np.float32
        self.np_dtype = np_dtype
        self.many_rules = slots.many_rules
        keys = chain_keys(seed, chains)
        # input population
        inp = slots.input
        if inp is not None:
            p, _ = inp.prepare(chains, n, dt_ms, cpu, torch.float64)
            p_m = inp.mother_probability(p)
            if p_m is None:
                m_thr = np.full(p.shape[0], -1, np.int64)
            else:  # multiple-interaction process: sources copy the mother's spikes
                p = torch.where(p_m > 0, p / p_m.clamp(min=1e-300), 0.0)
                m_thr = np.floor(p_m[:, 0].numpy() * _TWO53).astype(np.int64)
            thr = np.floor(p.numpy() * _TWO53).astype(np.int64)
            w = torch.as_tensor(inp.weights_uS).to(dtype)
            w_e, w_i = w.clamp(min=0).numpy(), (-w).clamp(min=0).numpy()
            flags = []
            for part in (w_e, w_i):
                has = bool((part != 0).any())
                flags += [int(has), int(has and bool((part == part[:, :1]).all()))]
            n_in = inp.n
            nz_n = (thr > 0).sum(1)
            nz = np.zeros_like(thr)
            for r in range(thr.shape[0]):
                nz[r, :nz_n[r]] = np.flatnonzero(thr[r] > 0)
            self.inp = (np.ascontiguousarray(thr), _stream_keys(keys, 1),
                        np.ascontiguousarray(w_e, dtype=np_dtype),
                        np.ascontiguousarray(w_i, dtype=np_dtype),
                        np.array(flags, dtype=np.int64), np.zeros((chains, n_in), np.int32),
                        nz, nz_n.astype(np.int64), np.zeros((chains, n_in), np.int64),
                        np.zeros(chains, np.int64), m_thr, _stream_keys(keys, 1 << 20),
                        np.zeros((chains, n_in), np.int64))
        else:
            n_in = 0
            z = np.zeros((1, 1), dtype=np_dtype)
            i2 = np.zeros((1, 0), np.int64)
            self.inp = (i2, keys, z, z, np.zeros(4, np.int64), np.zeros((chains, 0), np.int32),
                        i2, np.zeros(1, np.int64), i2, np.zeros(chains, np.int64),
                        np.full(1, -1, np.int64), keys, np.zeros((chains, 0), np.int64))
        # extra Poisson drive: one stream per (drive, exc|inh)
        means, weights, inh = [], [], []
        for d in slots.drive:
            m_e, m_i = d.prepare(chains, n, dt_ms, cpu, torch.float64)
            for m, wgt, is_inh in ((m_e, d.w_exc_uS, 0), (m_i, d.w_inh_uS, 1)):
                if m is not None:
                    means.append(m.numpy())
                    weights.append(wgt)
                    inh.append(is_inh)
        if means:
            allm = np.stack(means)
            uniq, rows = np.unique(allm, return_inverse=True)
            rows = rows.reshape(allm.shape).astype(np.int32)
            rows[allm == 0] = -1
            thr = poisson_thresholds(uniq)
            self.drv = (thr, rows, np.array(weights, dtype=np_dtype),
                        np.array(inh, dtype=np.int64),
                        np.stack([_stream_keys(keys, 2 + s) for s in range(len(means))]))
        else:
            self.drv = (_stack_padded([np.zeros(1, np.int64)]),
                        np.zeros((0, chains, n), np.int32), np.zeros(0, np_dtype),
                        np.zeros(0, np.int64), np.zeros((0, chains), np.uint64))
        # plastic projections, in the order given
        self.rules = []
        self.rule_in = self.rule_rec = None
        for r in slots.plasticity:
            kp = KernelProjection(r, chains, n_in if r.pre == "input" else n, n, dtype, dt_ms)
            self.rules.append(kp)
            if r.pre == "input":
                self.rule_in = kp
            else:
                self.rule_rec = kp
        dummy_w = np.zeros((1, 1, 1), dtype=np_dtype)
        pin = self.rule_in
        self.plastic_in = (pin.w_eff if pin else dummy_w, pin is not None)
        prec = self.rule_rec
        self.plastic_rec = (prec.w_eff if prec else dummy_w,
                            np.zeros((chains, n), dtype=np_dtype), prec is not None)
        dummy = KernelProjection.dummy(np_dtype)
        self.args_in = pin.args() if pin else dummy
        self.learn_in = bool(pin and pin.learn)
        self.args_rec = prec.args() if prec else dummy
        self.learn_rec = bool(prec and prec.learn)
        self.scratch = (np.zeros((chains, n), np.int32), np.zeros((chains, n), np.int32),
                        np.zeros((chains, n), np.int64), np.zeros((chains, n), np.int64),
                        np.zeros((chains, n), np.int32))

    @property
    def recurrent_plastic(self) -> bool:
        return self.rule_rec is not None

    def run(self, state, stp, recurrent, records, e_leak, leak_shift, i_offset, neuron_c,
            n_ref, stp_c, static, has_recurrent, thr_e, thr_i, tab, keys, k_start, k_stop,
            burn, z_every, record_spikes) -> None:
        run_block_slots(state, stp, recurrent, records, self.scratch, e_leak, leak_shift,
                        i_offset, neuron_c, n_ref, stp_c, static,
                        has_recurrent or self.recurrent_plastic, thr_e, thr_i, tab, keys,
                        k_start, k_stop, burn, z_every, record_spikes, self.inp, self.drv,
                        self.plastic_in, self.plastic_rec, self.args_in, self.learn_in,
                        self.args_rec, self.learn_rec)

    def plasticity_results(self, elapsed_ms: float) -> tuple[list, list]:
        """(states, weights) of the components in the order given, after ``finish``."""
        out = [kp.result(elapsed_ms) for kp in self.rules]
        return [s for s, _ in out], [w for _, w in out]
