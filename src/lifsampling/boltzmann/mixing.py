r"""Mixing comparison of samplers on a trained classification RBM (MNIST).

:func:`compare_samplers` runs every sampler from the same start state and measures, on the
visible pixels of the emitted samples (research notes tempering_and_metrics.md §3.1, §3.3):

* class of each sample by an independent classifier (:func:`lifsampling.metrics.mnist_classifier`)
  and by the RBM's own label units (argmax_y p(y | x), hidden layer summed out);
* class switches per 1,000 samples, plain and *confident* (both neighbours classified with
  probability ≥ 0.9), classes visited per chain, class histogram against the data's class
  proportions (total variation, KL);
* ISL of the test set under the samples (binary Parzen; β chosen on a validation split, and at
  the fixed β = 0.95 of the Heidelberg group);
* integrated autocorrelation time (Sokal window) and ESS of the free energy F(v) of the samples;
* cost: Gibbs sweeps per emitted sample and wall time.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import metrics
from .model import RBM


def sample_statistics(rbm: RBM, states: torch.Tensor, classifier, x_test: np.ndarray,
                      x_val: np.ndarray, data_proportions, isl_beta: float = 0.95) -> dict:
    """Mixing and quality statistics of samples (chains, n, N) from a classification RBM."""
    chains, n = states.shape[:2]
    vis = states[..., : rbm.n_visible]
    pix = vis[..., : rbm.n_pixels].reshape(chains * n, rbm.n_pixels)
    probs = classifier.predict_proba(pix.cpu().numpy()).reshape(chains, n, -1)
    cls = probs.argmax(-1)
    own = rbm.classify(pix.to(rbm.dtype)).reshape(chains, n).cpu().numpy() \
        if rbm.n_labels else cls
    hist = metrics.class_histogram_distance(cls, data_proportions)
    samples = pix.cpu().numpy()
    beta_sel, _ = metrics.isl_select_beta(samples, x_val)
    fe = rbm.free_energy(vis.reshape(chains * n, -1).to(rbm.dtype)).reshape(chains, n)
    tau = metrics.integrated_autocorr_time(fe.double().cpu().numpy()) if n > 2 else float("nan")
    return {
        "class_switches_per_1000": metrics.class_switches(cls),
        "confident_class_switches_per_1000": metrics.confident_class_switches(probs, 0.9),
        "label_unit_class_switches_per_1000": metrics.class_switches(own),
        "classes_visited_per_chain": metrics.classes_visited(cls).tolist(),
        "class_histogram": hist["histogram"],
        "class_histogram_tv": hist["total_variation"],
        "class_histogram_kl": hist["kl"],
        "isl_beta_selected": beta_sel,
        "isl_selected": metrics.isl(samples, x_test, beta_sel),
        f"isl_beta_{isl_beta}": metrics.isl(samples, x_test, isl_beta),
        "tau_int_free_energy": tau,
        "ess_free_energy": chains * n / tau if tau == tau else float("nan"),
        "classes": cls.tolist(),
    }


def compare_samplers(rbm: RBM, samplers: dict, n: int, chains: int, init: torch.Tensor,
                     classifier, x_test: np.ndarray, x_val: np.ndarray, data_proportions,
                     seed: int = 0, keep_states: bool = True) -> dict:
    """Run each sampler in ``samplers`` (name → Sampler) from ``init`` and collect
    :func:`sample_statistics` plus cost. Returns {name: stats} (with ``states`` as uint8
    visible arrays when ``keep_states``)."""
    out = {}
    for name, sampler in samplers.items():
        t0 = time.perf_counter()
        states = sampler.sample(rbm, n, chains=chains, seed=seed, init=init)
        wall = time.perf_counter() - t0
        stats = sample_statistics(rbm, states, classifier, x_test, x_val, data_proportions)
        info = {k: v for k, v in sampler.info.items() if k != "log_weights"}
        stats.update({"wall_s": wall, "sweeps_per_sample": info.get("sweeps_per_sample"),
                      "info": info})
        if keep_states:
            stats["states"] = states[..., : rbm.n_visible].to(torch.uint8).cpu().numpy()
        out[name] = stats
    return out
