"""Classification by the spiking network against the RBM it came from (docs/stp.md §1).

Each test image is clamped in its own chain (folded into the hidden leak potentials, or the
pixel neurons clamped by spiking, see :mod:`lifsampling.spiking_rbm`); the label neurons' time
fractions with z = 1 over ``duration_ms`` after ``burn_in_ms`` are the read-out, argmax the
prediction. The RBM's own
accuracy is argmax_y p(y | x) with the hidden layer summed out exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from ..boltzmann import RBM
from ..calibration import Calibration
from ..datasets import binarize, load_mnist
from ..spiking_rbm import classify


def run_classification(rbm: RBM, calibration: Calibration, *, data: str = "auto",
                       n_test: int | None = None, duration_ms: float = 100.0,
                       burn_in_ms: float = 20.0, batch_size: int = 500, seed: int = 0,
                       device: str = "auto", progress: bool = False, clamp: str = "folded",
                       correction=None) -> dict:
    """Accuracy of the spiking network and of the RBM on the first ``n_test`` test images
    (all by default: 10,000 for full MNIST, 1,000 for the built-in subset)."""
    ds = load_mnist(data, download=False)
    n = len(ds.y_test) if n_test is None else min(int(n_test), len(ds.y_test))
    if n < 1:
        raise ValueError(f"n_test must be >= 1, got {n_test}")
    x, y = binarize(ds.x_test[:n]), ds.y_test[:n]
    res = classify(rbm, calibration, x, duration_ms=duration_ms, burn_in_ms=burn_in_ms,
                   batch_size=batch_size, seed=seed, device=device, progress=progress,
                   clamp=clamp, correction=correction)
    own = rbm.to(device="cpu", dtype=torch.float64).classify(torch.from_numpy(x)).numpy()
    acc, acc_rbm = res.accuracy(y), float((own == y).mean())
    return {"accuracy": acc, "rbm_accuracy": acc_rbm, "difference_pp": 100 * (acc - acc_rbm),
            "agreement_with_rbm": float((res.predictions == own).mean()),
            "n_test": n, "data_source": ds.provenance.get("source"),
            "duration_ms": duration_ms, "burn_in_ms": burn_in_ms, "batch_size": batch_size,
            "mean_label_activity": float(res.label_activity.sum(1).mean()),
            "silent_fraction": float((res.label_activity.sum(1) == 0).mean()),
            "retried_fraction": res.retried / n,
            "wall_s": res.wall_s, "clamp": clamp, "clamping": (
                "pixels folded into the hidden leak potentials" if clamp == "folded" else
                "pixel neurons clamped by spiking (staggered onsets), full network simulated"),
            "per_class_accuracy": [float((res.predictions[y == k] == k).mean())
                                   for k in range(10) if (y == k).any()],
            "standard_error_pp": 100 * float(np.sqrt(acc * (1 - acc) / n))}
