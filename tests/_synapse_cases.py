"""Synapse kinds and a silent background shared by the engine tests (equivalence and
continuation), so that both cover the same cases."""

from lifsampling.params import NoiseParams, SynapseParams

SILENT = NoiseParams(rate_exc_hz=0.0, rate_inh_hz=0.0)
SYNAPSES = {
    "renewing": SynapseParams(),
    "additive": SynapseParams(kind="additive", weight_scale=0.7),
    "tsodyks_markram": SynapseParams(kind="tsodyks_markram", U=0.3, tau_rec_ms=50.0,
                                     tau_fac_ms=20.0, weight_scale=2.0),
}
