r"""Translation between a Boltzmann machine and a network of LIF samplers (and back).

Target distribution p(z) ∝ exp(½ zᵀWz + bᵀz), W symmetric with zero diagonal.

**Biases** (E_l space, research/lif_sampling.md §1.4 [V]): the calibration's logistic
p(z_k=1) = σ((E_l - u0)/alpha) is matched to the Boltzmann conditional σ(b_k + Σ_j W_kj z_j),
so ``E_l,k = u0 + alpha b_k`` (mV).

**Weights** (seed 000; sbs ``_calc_factor_weights_theo_to_bio`` [V]): in the high-conductance
state a presynaptic spike through a synapse of conductance w (µS) and reversal E_rev produces the
postsynaptic potential (tau_s = tau_syn, tau_eff = C_m / g_tot)

    PSP(t) = w (E_rev - mu) / g_tot * tau_s / (tau_s - tau_eff) * (exp(-t/tau_s) - exp(-t/tau_eff)),

with mu the mean free membrane potential of the *postsynaptic* neuron (including its bias) and
g_tot its mean total conductance. Neural sampling wants the interaction to shift the membrane by
the equivalent of W_kj bias units for the time z_j = 1, i.e. for tau_ref. A shift of E_l by ΔE
moves mu by ΔE g_l / g_tot, so the mean PSP over [0, tau_ref] is set to alpha W g_l / g_tot:

    w = alpha W (g_l/g_tot) tau_ref g_tot (tau_s - tau_eff)
        / ((E_rev - mu) tau_s [tau_s (1 - e^{-tau_ref/tau_s}) - tau_eff (1 - e^{-tau_ref/tau_eff})])

in µS per unit of W (positive W: excitatory, E_rev = E_exc; negative: inhibitory, E_rev = E_inh,
and w is then the negative of the inhibitory conductance, the engine's sign convention). With
tau_ref = tau_s this is seed 000's W_kj = w_kj (E_rev - mu) / (alpha C_m (1 - tau_s/tau_eff))
[tau_s (e^{-1} - 1) - tau_eff (e^{-tau_s/tau_eff} - 1)] with alpha there in membrane units.

**Self-consistent biases** (optional ``bias_offset``): the renewing synapse's PSP does not
follow z_j exactly (front-loaded, bursts, a tail after tau_ref), so the realised mean input
differs from sum_j W_kj z_j by a state-dependent amount that shifts the marginals. Every
Boltzmann distribution obeys Callen's identity <z_k> = <sigma(b_k + sum_j W_kj z_j)> (average
over the distribution itself); :func:`lifsampling.corrections.callen_bias_step` measures how
far the *network's own* samples violate it and returns the bias change that removes the
violation to first order (:func:`lifsampling.corrections.self_consistent_biases` iterates it
on pilot runs).
"""

from __future__ import annotations

import numpy as np
import torch

from .calibration import Calibration
from .engine import Network
from .membrane import free_membrane_mean, mean_conductances
from .params import NeuronParams, NoiseParams, SynapseParams


def weight_factors(neuron: NeuronParams, noise: NoiseParams, alpha_mV: float,
                   e_leak_mV: np.ndarray, t_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """µS per unit of Boltzmann weight for (exc, inh) synapses onto neurons with leak ``e_leak_mV``.

    Both factors are positive; the inhibitory one multiplies |W| of negative weights.
    """
    m = mean_conductances(neuron, noise, t_ms)
    mu = free_membrane_mean(neuron, noise, e_leak_mV, t_ms)
    t_ref = neuron.tau_ref_ms
    out = []
    for tau_s, d_e in ((neuron.tau_syn_exc_ms, neuron.e_rev_exc_mV - mu),
                       (neuron.tau_syn_inh_ms, mu - neuron.e_rev_inh_mV)):
        te = m.tau_eff_ms
        integral = tau_s * (1 - np.exp(-t_ref / tau_s)) - te * (1 - np.exp(-t_ref / te))
        alpha_u = alpha_mV * neuron.g_leak_uS / m.g_tot_uS
        out.append(alpha_u * t_ref * m.g_tot_uS * (tau_s - te) / (d_e * tau_s * integral))
    return out[0], out[1]


def biases_to_leak(b, calibration: Calibration) -> torch.Tensor:
    """E_l = u0 + alpha b (mV)."""
    b = torch.as_tensor(b, dtype=torch.float64)
    return calibration.u0_mV + calibration.alpha_mV * b


def leak_to_biases(e_leak_mV, calibration: Calibration) -> torch.Tensor:
    """Inverse of :func:`biases_to_leak`."""
    return (torch.as_tensor(e_leak_mV, dtype=torch.float64) - calibration.u0_mV) \
        / calibration.alpha_mV


def weights_to_conductances(W, e_leak_mV, calibration: Calibration,
                            noise: NoiseParams | None = None) -> torch.Tensor:
    """Boltzmann weights W[i, j] to signed synaptic weights (µS), row i presynaptic.

    The factor depends on the postsynaptic neuron j (its leak potential sets mu); the
    calibration's measured ``weight_scale_exc/inh`` (1 unless
    :func:`lifsampling.calibrate.calibrate_couplings` was run) multiply it.
    """
    W = torch.as_tensor(W, dtype=torch.float64)
    fe, fi = weight_factors(calibration.neuron, noise or calibration.noise, calibration.alpha_mV,
                            np.asarray(e_leak_mV, dtype=float))
    fe = torch.as_tensor(fe, dtype=torch.float64) * calibration.weight_scale_exc
    fi = torch.as_tensor(fi, dtype=torch.float64) * calibration.weight_scale_inh
    return torch.where(W >= 0, W * fe, W * fi)


def conductances_to_weights(w_uS, e_leak_mV, calibration: Calibration,
                            noise: NoiseParams | None = None) -> torch.Tensor:
    """Inverse of :func:`weights_to_conductances`."""
    w = torch.as_tensor(w_uS, dtype=torch.float64)
    fe, fi = weight_factors(calibration.neuron, noise or calibration.noise, calibration.alpha_mV,
                            np.asarray(e_leak_mV, dtype=float))
    fe = torch.as_tensor(fe) * calibration.weight_scale_exc
    fi = torch.as_tensor(fi) * calibration.weight_scale_inh
    return torch.where(w >= 0, w / fe, w / fi)


def check_boltzmann(W, b) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate (W, b): W square, symmetric, zero diagonal, finite; b matching."""
    W = torch.as_tensor(W, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"W must be square, got shape {tuple(W.shape)}")
    if b.shape != (W.shape[0],):
        raise ValueError(f"b must have shape ({W.shape[0]},), got {tuple(b.shape)}")
    if not (torch.isfinite(W).all() and torch.isfinite(b).all()):
        raise ValueError("W and b must be finite")
    if not torch.allclose(W, W.T, atol=1e-9):
        raise ValueError("W must be symmetric")
    if W.diagonal().abs().max() > 0:
        raise ValueError("W must have a zero diagonal")
    return W, b


def bm_to_network(W, b, calibration: Calibration, *, synapse: SynapseParams | None = None,
                  noise: NoiseParams | None = None, bias_offset=None) -> Network:
    """Map the Boltzmann machine (W, b) onto LIF samplers calibrated by ``calibration``.

    ``noise`` replaces the calibration's background in the network (e.g. a time-varying rate);
    the translation itself always uses the calibration's own background. ``bias_offset`` (N,),
    in bias units, is added to b before the translation (e.g. from
    :func:`lifsampling.corrections.self_consistent_biases`); :func:`network_to_bm` then returns
    b + bias_offset.
    """
    W, b = check_boltzmann(W, b)
    if bias_offset is not None:
        off = torch.as_tensor(bias_offset, dtype=torch.float64)
        if off.shape != b.shape or not torch.isfinite(off).all():
            raise ValueError(f"bias_offset must be finite with shape {tuple(b.shape)}, "
                             f"got {tuple(off.shape)}")
        b = b + off
    e_leak = biases_to_leak(b, calibration)
    w = weights_to_conductances(W, e_leak, calibration)
    return Network(weights_uS=w, e_leak_mV=e_leak, neuron=calibration.neuron,
                   noise=noise or calibration.noise, synapse=synapse or SynapseParams())


def to_lif(bm, calibration: Calibration, **kwargs) -> Network:
    """Map any model with ``.W`` and ``.b`` (a Boltzmann machine) onto LIF samplers."""
    return bm_to_network(bm.W, bm.b, calibration, **kwargs)


def network_to_bm(net: Network, calibration: Calibration) -> tuple[torch.Tensor, torch.Tensor]:
    """The Boltzmann machine (W, b) that ``net`` samples from, given its calibration."""
    b = leak_to_biases(net.e_leak_mV, calibration)
    return conductances_to_weights(net.weights_uS, net.e_leak_mV, calibration), b
