"""One whole step (background draw, membrane, threshold, synaptic resources) as a single
function for ``torch.compile``: inductor fuses its element-wise work into one loop per tensor,
which is what a large batch (B x N >> 10^5) is limited by on the CPU.

The compiled step draws its uniforms from torch's global generator (inductor's own fused
random numbers), seeded from the simulation seed inside ``torch.random.fork_rng``, so it is
reproducible for a seed but gives a different (equally valid) realisation than the eager path,
which uses an explicit ``torch.Generator``.
"""

from __future__ import annotations

from functools import cache

import torch

from .neuron import LIFConstants, LIFState, lif_step
from .synapses import STPConstants, STPState, stp_step


def fused_step(state: LIFState, stp: STPState, pend_e: torch.Tensor, pend_i: torch.Tensor,
               c: LIFConstants, sc: STPConstants, cdf: torch.Tensor, dge: torch.Tensor,
               dgi: torch.Tensor):
    """Background jumps (inverse joint CDF), ``lif_step`` and ``stp_step`` in one function."""
    u = torch.rand(state.v.shape, dtype=torch.float64, device=state.v.device)
    idx = torch.bucketize(u, cdf)
    state, spikes, z = lif_step(state, c, dge[idx] + pend_e, dgi[idx] + pend_i)
    stp, efficacy = stp_step(stp, sc, spikes)
    return state, stp, spikes, z, efficacy


@cache
def compiled_step():
    """``torch.compile``-d :func:`fused_step` (compiled once per process and signature)."""
    return torch.compile(fused_step, dynamic=False)
