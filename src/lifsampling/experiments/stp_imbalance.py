"""Imbalanced training data (docs/stp.md §3): which sampler reproduces the class proportions?

A classification RBM is trained (PCD, :func:`lifsampling.boltzmann.train.train_rbm`) on MNIST
with digits 5–9 at 10 % of the frequency of digits 0–4 (the issue's reference setup; state
proportions 1/5.5 for 0–4 and 0.1/5.5 for 5–9 ≈ 18.2 % and 1.8 %). Then STP, Gibbs and AST (20
inverse temperatures from 1 to 0.8) sample it from the same start states, and the class
histogram of their samples (fixed classifier) is compared with the training proportions (total
variation; KL add-one smoothed), together with the other statistics of :mod:`.stp_mixing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..boltzmann import RBM
from ..boltzmann.train import TrainConfig, load_rbm, save_rbm, train_rbm
from ..calibration import Calibration
from ..datasets import binarize, class_proportions, imbalance, load_mnist, with_labels
from . import _validate as check
from .stp_mixing import MixingConfig, default_data, run_mixing, sampler_names

DEFAULT_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1)


def train_imbalanced(path: Path, *, weights=DEFAULT_WEIGHTS, data: str = "auto",
                     n_hidden: int = 500, epochs: int = 5, seed: int = 0,
                     log=None) -> tuple[RBM, np.ndarray]:
    """Train (or load, if ``path`` exists) a classification RBM on class-imbalanced MNIST;
    returns the RBM and the training class proportions (stored in the model header)."""
    path = Path(path)
    if path.is_file():
        rbm, header = load_rbm(path)
        props = header.get("data", {}).get("class_proportions")
        if props is None:
            raise ValueError(f"{path} has no class_proportions in its header; delete it to "
                             "retrain or pass another path")
        return rbm, np.asarray(props)
    ds = load_mnist(data, download=False)
    x, y = imbalance(ds.x_train, ds.y_train, weights, seed=seed)
    v = torch.from_numpy(with_labels(binarize(x), y))
    cfg = TrainConfig(n_hidden=n_hidden, epochs=epochs, batch_size=20, lr=0.05,
                      persistent=True, momentum=0.5, seed=seed)
    xt = torch.from_numpy(binarize(ds.x_test))
    rbm, hist = train_rbm(v, cfg, n_labels=10, eval_data=(xt, torch.from_numpy(ds.y_test)),
                          progress=False, log=log)
    props = class_proportions(y)
    save_rbm(path, rbm, cfg, data={"source": ds.provenance.get("source"), "class_weights":
                                   list(weights), "class_proportions": props.tolist(),
                                   "n_train": int(len(y))}, history=hist)
    return rbm, props


@dataclass(frozen=True)
class ImbalanceConfig:
    """The imbalance study: the model is trained (if its file is missing) for ``epochs``
    (>= 1) with ``train_seed``; then ``samplers`` draw ``n_samples`` (>= 3) per chain on
    ``chains`` (>= 1) chains for every one of ``seeds``, STP with utilisation ``U`` in (0, 1]
    and recovery time ``tau_rec_ms`` (ms, > 0), on ``device``. Validated on construction
    (ValueError naming the field)."""

    n_samples: int = 500
    chains: int = 4
    U: float = 0.1
    tau_rec_ms: float = 280.0
    samplers: tuple[str, ...] = ("stp", "gibbs", "ast")
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    equal_time: bool = True
    epochs: int = 5
    train_seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "samplers", sampler_names("samplers", self.samplers))
        set_(self, "epochs", check.whole("epochs", self.epochs, at_least=1))
        set_(self, "train_seed", check.whole("train_seed", self.train_seed, at_least=0))
        self.mixing()  # the sampling fields, checked by the mixing config

    def mixing(self) -> MixingConfig:
        """The mixing comparison of this study."""
        return MixingConfig(samplers=self.samplers, n_samples=self.n_samples,
                            chains=self.chains, U=self.U, tau_rec_ms=self.tau_rec_ms,
                            seeds=self.seeds, device=self.device, equal_time=self.equal_time)


def run_imbalance(rbm: RBM, proportions, calibration: Calibration,
                  config: ImbalanceConfig | None = None, *, out_dir: Path | None = None,
                  log=None, progress: bool = False, **params) -> dict:
    """Mixing table on the imbalanced RBM against its training proportions (the harness of
    :mod:`lifsampling.comparison`; chain k starts from a digit of class k mod 10), with
    ``config`` (or ``ImbalanceConfig(**params)``). The headline is the TV distance of the class
    histogram to the training proportions, mean and 95 % interval over seeds
    (``class_histogram_vs_training``); KL only add-one smoothed."""
    cfg = check.configured(ImbalanceConfig, config, params)
    data = default_data(rbm, proportions=proportions)
    res = run_mixing(rbm, calibration, cfg.mixing(), data=data, out_dir=out_dir, log=log,
                     progress=progress)
    res["class_histogram_vs_training"] = {
        budget: {name: {"tv": c["class_histogram_tv"], "precision": c["precision"],
                        "mode_switches_per_1000": c["mode_switches_per_1000"]}
                 for name, c in cells.items()}
        for budget, cells in res["summary"].items()}
    return res
