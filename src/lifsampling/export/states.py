"""Sampling states from recorded spike times, as the engine records them.

A simulator on a time grid of step dt stamps a spike emitted in step k, the interval
[k dt, (k + 1) dt], with the time (k + 1) dt (NEST's convention). The LIF-sampling state is
z = 1 for tau_ref after a spike (sbs ``generate_states``): in the engine's steps, the spike
step and the ``n_ref - 1`` steps after it, ``n_ref = round(tau_ref / dt)``
(:mod:`lifsampling.engine.neuron`). From the spike steps this module rebuilds what
:func:`lifsampling.engine.simulate` returns: spike counts, the fraction of steps with z = 1,
z read every ``z_every_ms`` and the time-weighted joint-state histogram (unit 0 = most
significant bit), all after the burn-in.
"""

from __future__ import annotations

import numpy as np
import torch

from ..engine import Record, SimulationResult

MAX_JOINT_UNITS = 20


def spike_steps(times_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Step index k of spikes stamped at (k + 1) dt (ms)."""
    return np.rint(np.asarray(times_ms, dtype=float) / dt_ms).astype(np.int64) - 1


def _z_of_chain(steps_by_neuron: list[np.ndarray], n_steps: int, n_ref: int) -> np.ndarray:
    """z (n_steps, N) bool of one chain from spike steps relative to the recording start."""
    n = len(steps_by_neuron)
    level = np.zeros((n_steps + 1, n), dtype=np.int32)
    for j, k in enumerate(steps_by_neuron):
        k = k[(k < n_steps) & (k + n_ref > 0)]
        np.add.at(level[:, j], np.maximum(k, 0), 1)
        np.add.at(level[:, j], np.minimum(k + n_ref, n_steps), -1)
    return np.cumsum(level[:-1], axis=0) > 0


def result_from_spikes(steps: list[list[np.ndarray]], *, dt_ms: float, duration_ms: float,
                       burn_in_ms: float, tau_ref_ms: float, record: Record | None = None,
                       wall_s: float = 0.0) -> SimulationResult:
    """A :class:`~lifsampling.engine.SimulationResult` from spike steps.

    ``steps[b][j]``: the step indices (from the start of the burn-in) of the spikes of neuron j
    in chain b. Traces cannot be rebuilt from spikes and are refused.
    """
    rec = record or Record()
    if rec.trace_neurons:
        raise ValueError("membrane traces are not recorded through the export; record them "
                         "with the simulator's own tools")
    chains, n = len(steps), len(steps[0])
    n_steps, burn = round(duration_ms / dt_ms), round(burn_in_ms / dt_ms)
    n_ref = max(1, round(tau_ref_ms / dt_ms))
    if rec.joint_states and n > MAX_JOINT_UNITS:
        raise ValueError(f"joint_states needs N <= {MAX_JOINT_UNITS} neurons, got {n}")
    counts = np.zeros((chains, n), dtype=np.int64)
    on = np.zeros((chains, n), dtype=np.int64)
    joint = np.zeros((chains, 2**n), dtype=np.int64) if rec.joint_states else None
    z_every = max(1, round(rec.z_every_ms / dt_ms)) if rec.z_every_ms else 0
    z_list, log = [], []
    bits = 2 ** np.arange(n - 1, -1, -1, dtype=np.int64)
    for b, chain in enumerate(steps):
        rel = [np.sort(np.asarray(k, dtype=np.int64)) - burn for k in chain]
        for j, k in enumerate(rel):
            kept = k[(k >= 0) & (k < n_steps)]
            counts[b, j] = kept.size
            if rec.spikes:
                log.append(np.stack([kept, np.full_like(kept, b), np.full_like(kept, j)], 1))
        z = _z_of_chain(rel, n_steps, n_ref)
        on[b] = z.sum(0)
        if joint is not None:
            joint[b] = np.bincount(z.astype(np.int64) @ bits, minlength=2**n)
        if z_every:
            z_list.append(z[::z_every])
    result = SimulationResult(
        dt_ms=dt_ms, duration_ms=n_steps * dt_ms, chains=chains,
        spike_counts=torch.from_numpy(counts), on_fraction=torch.from_numpy(on / n_steps),
        wall_s=wall_s)
    if rec.spikes:
        triples = np.concatenate(log) if log else np.zeros((0, 3), dtype=np.int64)
        triples = triples[np.lexsort((triples[:, 2], triples[:, 1], triples[:, 0]))]
        result.spikes = tuple(torch.from_numpy(np.ascontiguousarray(c)) for c in triples.T)
    if z_list:
        result.z_samples = torch.from_numpy(np.stack(z_list, 1))
    if joint is not None:
        result.joint_counts = torch.from_numpy(joint)
    return result
