"""Classical side: Boltzmann machines, exact enumeration, Gibbs/AST/PT samplers, CD/PCD training.

Never imports the spiking engine. Convention p(z) ∝ exp(½ zᵀWz + bᵀz); see :mod:`.model`.
"""

from .model import (
    MAX_EXACT_UNITS,
    RBM,
    BoltzmannMachine,
    all_states,
    exact_distribution,
    exact_log_partition,
    exact_marginals,
    exact_visible_distribution,
    random_boltzmann,
    random_rbm,
    state_index,
)
from .samplers import (
    SAMPLERS,
    ASTSampler,
    GibbsSampler,
    PTSampler,
    Sampler,
    ast_sample,
    get_sampler,
    gibbs_sample,
    gibbs_sweep,
    pt_sample,
)

__all__ = [
    "MAX_EXACT_UNITS", "RBM", "BoltzmannMachine", "all_states", "exact_distribution",
    "exact_log_partition", "exact_marginals", "exact_visible_distribution", "random_boltzmann",
    "random_rbm", "state_index", "SAMPLERS", "ASTSampler", "GibbsSampler", "PTSampler",
    "Sampler", "ast_sample", "get_sampler", "gibbs_sample", "gibbs_sweep", "pt_sample",
]
