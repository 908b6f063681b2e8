"""Parameter dataclasses with units, and literature presets.

Units follow NEST/PyNN: ms, mV, nF, µS, nA, Hz. Every field names its unit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

RateFn = Callable[[float], float]
"""A background rate as a function of time: ``rate_hz = f(t_ms)``."""


@dataclass(frozen=True)
class NeuronParams:
    """Conductance-based LIF neuron with exponential synapses (PyNN ``IF_cond_exp``).

    C_m du/dt = g_l (E_l - u) + g_exc (E_exc - u) + g_inh (E_inh - u) + I_offset,
    dg_x/dt = -g_x / tau_syn_x, spike when u >= V_th, then u = V_reset for tau_ref.
    """

    cm_nF: float = 0.2
    tau_m_ms: float = 1.0
    e_leak_mV: float = -50.0
    v_thresh_mV: float = -50.0
    v_reset_mV: float = -50.001
    tau_ref_ms: float = 10.0
    tau_syn_exc_ms: float = 10.0
    tau_syn_inh_ms: float = 10.0
    e_rev_exc_mV: float = 0.0
    e_rev_inh_mV: float = -100.0
    i_offset_nA: float = 0.0

    @property
    def g_leak_uS(self) -> float:
        """Leak conductance g_l = C_m / tau_m (µS)."""
        return self.cm_nF / self.tau_m_ms

    def validate(self) -> None:
        """Raise ``ValueError`` with a readable message for unphysical values."""
        for name in ("cm_nF", "tau_m_ms", "tau_syn_exc_ms", "tau_syn_inh_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.tau_ref_ms < 0:
            raise ValueError(f"tau_ref_ms must be >= 0, got {self.tau_ref_ms}")
        if not self.e_rev_inh_mV < self.e_rev_exc_mV:
            raise ValueError("e_rev_inh_mV must be below e_rev_exc_mV")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NoiseParams:
    """Independent excitatory and inhibitory Poisson background per neuron.

    Each neuron receives its own Poisson trains; a spike increments g_exc by ``w_exc_uS``
    (or g_inh by ``w_inh_uS``). Rates are in Hz; a rate may be a function of time
    (``rate_hz = f(t_ms)``), e.g. :class:`SinusoidalRate`, for oscillating background.
    """

    rate_exc_hz: float | RateFn = 3000.0
    rate_inh_hz: float | RateFn = 3000.0
    w_exc_uS: float = 0.001
    w_inh_uS: float = 0.001

    def rates_at(self, t_ms: float) -> tuple[float, float]:
        """(exc, inh) rates in Hz at time ``t_ms``."""
        re = self.rate_exc_hz(t_ms) if callable(self.rate_exc_hz) else self.rate_exc_hz
        ri = self.rate_inh_hz(t_ms) if callable(self.rate_inh_hz) else self.rate_inh_hz
        return float(re), float(ri)

    @property
    def time_varying(self) -> bool:
        return callable(self.rate_exc_hz) or callable(self.rate_inh_hz)

    def scaled(self, factor: float) -> NoiseParams:
        """Both (constant) rates multiplied by ``factor``."""
        if self.time_varying:
            raise ValueError("scaled() needs constant rates")
        return replace(self, rate_exc_hz=self.rate_exc_hz * factor,
                       rate_inh_hz=self.rate_inh_hz * factor)

    def validate(self) -> None:
        if not self.time_varying:
            for name in ("rate_exc_hz", "rate_inh_hz"):
                if getattr(self, name) < 0:
                    raise ValueError(f"{name} must be >= 0 Hz, got {getattr(self, name)}")
        for name in ("w_exc_uS", "w_inh_uS"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 µS, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        if self.time_varying:
            d = {k: (repr(v) if callable(v) else v) for k, v in self.__dict__.items()}
            return d
        return asdict(self)


@dataclass(frozen=True)
class SinusoidalRate:
    """nu(t) = max(0, mean + amplitude * sin(2 pi f t + phase)), as NEST's
    ``sinusoidal_poisson_generator``. Rates in Hz, frequency in Hz, t in ms, phase in rad."""

    mean_hz: float
    amplitude_hz: float
    frequency_hz: float
    phase_rad: float = 0.0

    def __call__(self, t_ms: float) -> float:
        arg = 2.0 * math.pi * self.frequency_hz * t_ms * 1e-3 + self.phase_rad
        return max(0.0, self.mean_hz + self.amplitude_hz * math.sin(arg))


@dataclass(frozen=True)
class SynapseParams:
    """Recurrent synapse dynamics, Tsodyks–Markram short-term plasticity per presynaptic neuron.

    At a presynaptic spike the efficacy is ``u * R`` (then R <- R (1 - u)); R recovers to 1 with
    ``tau_rec_ms``, u relaxes to U with ``tau_fac_ms`` (0: no facilitation, u = U). The jump in the
    target's conductance is ``weight_scale * u * R * |w|``. Kinds:

    - ``"renewing"`` (default; sbs "saturating" synapses): U = 1 and tau_rec = tau_syn, which makes
      a spike *set* the synapse's conductance back to its weight instead of stacking.
    - ``"additive"``: static synapses, every spike adds |w|.
    - ``"tsodyks_markram"``: general STP with U, tau_rec_ms, tau_fac_ms, weight_scale.
    """

    kind: str = "renewing"
    U: float = 1.0
    tau_rec_ms: float = 10.0
    tau_fac_ms: float = 0.0
    weight_scale: float = 1.0

    def validate(self) -> None:
        if self.kind not in ("renewing", "additive", "tsodyks_markram"):
            raise ValueError(f"unknown synapse kind {self.kind!r}; "
                             "use 'renewing', 'additive' or 'tsodyks_markram'")
        if not 0.0 < self.U <= 1.0:
            raise ValueError(f"U must be in (0, 1], got {self.U}")
        if self.tau_rec_ms < 0 or self.tau_fac_ms < 0:
            raise ValueError("tau_rec_ms and tau_fac_ms must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


# --- presets -------------------------------------------------------------------------------
# sbs tutorial neuron (electronicvisions/spike-based-sampling, example/tutorial.py l.38-47) and
# its COBA background (l.70-71): 3000 Hz exc + inh, +-0.001 µS. research/lif_sampling.md §1.1 [V].
SBS_TUTORIAL_NEURON = NeuronParams()
SBS_TUTORIAL_NOISE = NoiseParams(rate_exc_hz=3000.0, rate_inh_hz=3000.0,
                                 w_exc_uS=0.001, w_inh_uS=0.001)

# Parameters attributed to Leng et al. 2018 ("Wei's params", mzenk/lif_pong
# neuron_parameters.py): tau_m 0.1 ms, E_l -65 mV, V_reset -50.01 mV, noise 400 Hz +-1 nS.
# research/lif_sampling.md §3.3 [V, code comment; not checked against the paper].
LENG2018_NEURON = NeuronParams(cm_nF=0.2, tau_m_ms=0.1, e_leak_mV=-65.0, v_thresh_mV=-50.0,
                               v_reset_mV=-50.01)
LENG2018_NOISE = NoiseParams(rate_exc_hz=400.0, rate_inh_hz=400.0, w_exc_uS=0.001, w_inh_uS=0.001)

# "mixing" STP attributed to Leng 2018 (mzenk/lif_pong mixing_tso_params): U=0.01, tau_rec=280 ms,
# tau_fac=0, weights divided by U. research/lif_sampling.md §3.2 [V, code]. This keeps only the
# first spike of a recovered synapse at the static weight; for a scale that keeps the *mean* jump
# see engine.synapses.renormalised_stp and spiking_rbm.renormalise_stp (docs/stp.md).
LENG2018_STP = SynapseParams(kind="tsodyks_markram", U=0.01, tau_rec_ms=280.0, tau_fac_ms=0.0,
                             weight_scale=100.0)

# Generic cortical LIF (chosen for the calcium experiments, docs/calcium.md): tau_m 20 ms,
# C_m 0.25 nF (g_l 12.5 nS), threshold 15 mV above rest, 2 ms refractory, 5 ms synapses.
MNIST_NEURON = NeuronParams(cm_nF=0.25, tau_m_ms=20.0, e_leak_mV=-70.0, v_thresh_mV=-55.0,
                            v_reset_mV=-70.0, tau_ref_ms=2.0, tau_syn_exc_ms=5.0,
                            tau_syn_inh_ms=5.0, e_rev_exc_mV=0.0, e_rev_inh_mV=-80.0)

RENEWING = SynapseParams(kind="renewing")
ADDITIVE = SynapseParams(kind="additive")

NEURON_PRESETS: dict[str, NeuronParams] = {"sbs": SBS_TUTORIAL_NEURON, "leng2018": LENG2018_NEURON}
NOISE_PRESETS: dict[str, NoiseParams] = {"sbs": SBS_TUTORIAL_NOISE, "leng2018": LENG2018_NOISE}
