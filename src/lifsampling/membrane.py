"""Mean free-membrane quantities under Poisson background (Campbell's theorem), shared by the
Boltzmann mapping and the high-conductance-state theory (``hcs.py``).

For Poisson input of rate nu (Hz) and conductance jump w (µS) into an exponential synapse with
time constant tau_syn (ms), the mean conductance is <g> = w nu tau_syn (nu in 1/ms). Then
g_tot = g_l + <g_exc> + <g_inh>, tau_eff = C_m / g_tot and the mean free membrane potential is
mu = (g_l E_l + <g_exc> E_exc + <g_inh> E_inh + I_offset) / g_tot
(research/lif_sampling.md §1.2, sbs ``IF_cond_exp_distribution`` [V]).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .params import NeuronParams, NoiseParams


class MeanConductances(NamedTuple):
    g_exc_uS: float
    g_inh_uS: float
    g_tot_uS: float
    tau_eff_ms: float


def mean_conductances(neuron: NeuronParams, noise: NoiseParams,
                      t_ms: float = 0.0) -> MeanConductances:
    """Mean background conductances (µS), total conductance and tau_eff (ms) at time ``t_ms``."""
    rate_e, rate_i = noise.rates_at(t_ms)
    ge = noise.w_exc_uS * rate_e * 1e-3 * neuron.tau_syn_exc_ms
    gi = noise.w_inh_uS * rate_i * 1e-3 * neuron.tau_syn_inh_ms
    g_tot = neuron.g_leak_uS + ge + gi
    return MeanConductances(ge, gi, g_tot, neuron.cm_nF / g_tot)


def free_membrane_mean(neuron: NeuronParams, noise: NoiseParams, e_leak_mV,
                       t_ms: float = 0.0) -> np.ndarray:
    """Mean free membrane potential mu (mV) for leak potential(s) ``e_leak_mV``."""
    m = mean_conductances(neuron, noise, t_ms)
    e_l = np.asarray(e_leak_mV, dtype=float)
    return (neuron.g_leak_uS * e_l + m.g_exc_uS * neuron.e_rev_exc_mV
            + m.g_inh_uS * neuron.e_rev_inh_mV + neuron.i_offset_nA) / m.g_tot_uS
