"""Classification by the spiking network against the RBM it came from (docs/stp.md §1).

Each test image is clamped in its own chain (folded into the hidden leak potentials, or the
pixel neurons clamped by spiking, see :mod:`lifsampling.spiking_rbm`); the label neurons' time
fractions with z = 1 over ``duration_ms`` after ``burn_in_ms`` are the read-out, argmax the
prediction. The RBM's own
accuracy is argmax_y p(y | x) with the hidden layer summed out exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..boltzmann import RBM
from ..calibration import Calibration
from ..datasets import binarize, load_mnist
from ..spiking_rbm import classify
from . import _validate as check

CLAMPS = ("folded", "spiking")


@dataclass(frozen=True)
class ClassifyConfig:
    """Classification of the first ``n_test`` test images (None: all; else >= 1) of ``data``
    (auto, builtin, mnist or a folder): each clamped (``clamp``: folded into the hidden leaks,
    or spiking pixel neurons) for ``burn_in_ms`` (ms, >= 0) then read out for ``duration_ms``
    (ms, > 0), ``batch_size`` (>= 1) images at a time, with ``seed`` on ``device``.
    ``correction_file``: a layer correction JSON (spiking clamp only). ``phases`` (>= 1):
    independent runs per image sharing ``duration_ms``, each with its own clamp phases
    (:func:`lifsampling.spiking_rbm.classify`). Validated on construction (ValueError naming
    the field)."""

    data: str = "auto"
    n_test: int | None = None
    duration_ms: float = 100.0
    burn_in_ms: float = 20.0
    batch_size: int = 500
    seed: int = 0
    device: str = "auto"
    clamp: str = "folded"
    correction_file: str | None = None
    phases: int = 1

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be auto, builtin, mnist or a folder, got {self.data!r}")
        if self.n_test is not None:
            set_(self, "n_test", check.whole("n_test", self.n_test, at_least=1))
        set_(self, "duration_ms", check.number("duration_ms", self.duration_ms, above=0.0))
        set_(self, "burn_in_ms", check.number("burn_in_ms", self.burn_in_ms, at_least=0.0))
        set_(self, "batch_size", check.whole("batch_size", self.batch_size, at_least=1))
        set_(self, "seed", check.whole("seed", self.seed, at_least=0))
        check.device(self.device)
        check.choice("clamp", self.clamp, CLAMPS)
        set_(self, "phases", check.whole("phases", self.phases, at_least=1))
        if self.correction_file is not None:
            set_(self, "correction_file", str(self.correction_file))
            if self.clamp != "spiking":
                raise ValueError("correction_file applies to the synapses: use it with clamp "
                                 "spiking")


def run_classification(rbm: RBM, calibration: Calibration,
                       config: ClassifyConfig | None = None, *, progress: bool = False,
                       correction=None, **params) -> dict:
    """Accuracy of the spiking network and of the RBM on the first ``n_test`` test images of
    ``config`` (or ``ClassifyConfig(**params)``; all by default: 10,000 for full MNIST, 1,000
    for the built-in subset). ``correction``: the layer correction (default: read from the
    config's ``correction_file``, if any)."""
    cfg = check.configured(ClassifyConfig, config, params)
    if correction is None and cfg.correction_file is not None:
        from ..fidelity import load_correction

        correction = load_correction(cfg.correction_file)
    if correction is not None and cfg.clamp != "spiking":
        raise ValueError("a correction applies to the synapses: use it with clamp spiking")
    duration_ms, burn_in_ms, batch_size = cfg.duration_ms, cfg.burn_in_ms, cfg.batch_size
    seed, device, clamp = cfg.seed, cfg.device, cfg.clamp
    ds = load_mnist(cfg.data, download=False)
    n = len(ds.y_test) if cfg.n_test is None else min(cfg.n_test, len(ds.y_test))
    x, y = binarize(ds.x_test[:n]), ds.y_test[:n]
    res = classify(rbm, calibration, x, duration_ms=duration_ms, burn_in_ms=burn_in_ms,
                   batch_size=batch_size, seed=seed, device=device, progress=progress,
                   clamp=clamp, correction=correction, phases=cfg.phases)
    own = rbm.to(device="cpu", dtype=torch.float64).classify(torch.from_numpy(x)).numpy()
    acc, acc_rbm = res.accuracy(y), float((own == y).mean())
    return {"accuracy": acc, "rbm_accuracy": acc_rbm, "difference_pp": 100 * (acc - acc_rbm),
            "agreement_with_rbm": float((res.predictions == own).mean()),
            "n_test": n, "data_source": ds.provenance.get("source"),
            "duration_ms": duration_ms, "burn_in_ms": burn_in_ms, "batch_size": batch_size,
            "phases": cfg.phases,
            "mean_label_activity": float(res.label_activity.sum(1).mean()),
            "silent_fraction": float((res.label_activity.sum(1) == 0).mean()),
            "retried_fraction": res.retried / n,
            "wall_s": res.wall_s, "clamp": clamp, "clamping": (
                "pixels folded into the hidden leak potentials" if clamp == "folded" else
                "pixel neurons clamped by spiking (staggered onsets), full network simulated"),
            "per_class_accuracy": [float((res.predictions[y == k] == k).mean())
                                   for k in range(10) if (y == k).any()],
            "standard_error_pp": 100 * float(np.sqrt(acc * (1 - acc) / n))}
