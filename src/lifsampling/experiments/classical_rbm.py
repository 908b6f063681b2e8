"""The classical MNIST RBM workflows of ``lifsampling evaluate`` and ``lifsampling sample``:
test accuracy, AIS log Z and test log-likelihood of a trained RBM, and samples drawn from it by
Gibbs, AST or PT (docs/classical.md). Each takes a self-validating frozen config."""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import _validate as check


def classification_data(data: str, binarization: str, seed: int):
    """(v_train (n, 794), x_test, y_test, provenance) of MNIST source ``data`` as torch
    tensors, binarised with ``binarization`` (train with ``seed``, test with ``seed + 1``)."""
    import torch

    from ..datasets import binarize, load_mnist, with_labels

    ds = load_mnist(data)
    xtr = binarize(ds.x_train, binarization, seed=seed)
    xte = binarize(ds.x_test, binarization, seed=seed + 1)
    prov = dict(ds.provenance, binarization=binarization, binarization_seed=seed,
                n_train=int(len(ds.y_train)), n_test=int(len(ds.y_test)))
    return (torch.from_numpy(with_labels(xtr, ds.y_train)), torch.from_numpy(xte),
            torch.from_numpy(ds.y_test), prov)


def _data(name: str, value) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be builtin, mnist or a folder, got {value!r}")
    return value


@dataclass(frozen=True)
class EvaluateConfig:
    """``data``: the MNIST source of the test images (builtin, mnist or a folder); ``ais_runs``
    (>= 1) independent AIS runs over ``ais_betas`` (>= 3) intermediate distributions; ``seed``
    (>= 0) of the AIS runs."""

    data: str = "builtin"
    ais_runs: int = 100
    ais_betas: int = 14500
    seed: int = 0

    def __post_init__(self) -> None:
        _data("data", self.data)
        check.whole("ais_runs", self.ais_runs, at_least=1)
        check.whole("ais_betas", self.ais_betas, at_least=3)
        check.whole("seed", self.seed, at_least=0)


def check_mnist_model(rbm, path) -> None:
    """ValueError unless ``rbm`` has the 784 MNIST pixels (plus label units, if any)."""
    from ..datasets import N_PIXELS

    if rbm.n_pixels != N_PIXELS:
        raise ValueError(f"model {path} has {rbm.n_visible} visible units ({rbm.n_labels} "
                         f"labels); MNIST needs {N_PIXELS} pixels (+ label units)")


def evaluation_data(header: dict, config: EvaluateConfig):
    """The test data of ``config.data``, binarised as the model's training data was (its
    header's binarization and seed): (v_train, x_test, y_test, provenance, binarization)."""
    binarization = header.get("data", {}).get("binarization", "threshold")
    bin_seed = int(header.get("data", {}).get("binarization_seed", 0))
    return (*classification_data(config.data, binarization, bin_seed), binarization)


def evaluate(rbm, data, config: EvaluateConfig, *, progress: bool = False) -> dict:
    """Accuracy of the label units, AIS log Z (with its bounds) and the average test
    log-likelihood (nats per image; labels summed out, and joint with the labels) of ``rbm``
    on ``data`` (from :func:`evaluation_data`)."""
    import torch

    from ..boltzmann.ais import ais_log_z, average_log_likelihood
    from ..boltzmann.train import classification_accuracy

    v, xte, yte, prov, binarization = data
    t0 = time.perf_counter()
    acc = classification_accuracy(rbm, xte, yte) if rbm.n_labels == 10 else None
    v_base = v if rbm.n_labels == 10 else v[:, : rbm.n_visible]
    ais = ais_log_z(rbm, n_runs=config.ais_runs, betas=config.ais_betas, v_data=v_base,
                    seed=config.seed, progress=progress)
    r64 = rbm.to(dtype=torch.float64)
    ll = average_log_likelihood(r64, xte.double(), ais.log_z, marginalize_labels=True) \
        if rbm.n_labels else average_log_likelihood(r64, xte.double(), ais.log_z)
    result = {"accuracy": acc, "log_z": ais.log_z, "test_log_likelihood": ll}
    if rbm.n_labels:
        from ..datasets import with_labels

        vt = torch.from_numpy(with_labels(xte.numpy(), yte.numpy())).double()
        result["test_log_likelihood_joint"] = average_log_likelihood(r64, vt, ais.log_z)
    result.update({
        "log_z_lower": ais.log_z_lower, "log_z_upper": ais.log_z_upper,
        "log_w_std": ais.log_w_std, "ais_runs": ais.n_runs, "ais_betas": ais.n_betas,
        "n_test": int(len(yte)), "data": prov["source"], "binarization": binarization,
        "wall_s": time.perf_counter() - t0,
        "units": "nats per test image; test_log_likelihood sums out the label units",
    })
    return result


@dataclass(frozen=True)
class SampleConfig:
    """``sampler``: gibbs, ast or pt; ``n`` (>= 1) samples per chain of ``chains`` (>= 1) after
    ``burn_in`` (>= 0) sweeps (gibbs, pt) or steps (ast); AST/PT ladder of ``n_betas`` (>= 2)
    inverse temperatures from 1 down to ``beta_min`` (in [0, 1)); ``init``: random, or data
    (the first training images of ``data``); ``seed`` (>= 0)."""

    sampler: str = "gibbs"
    n: int = 1000
    chains: int = 1
    burn_in: int = 100
    beta_min: float = 0.8
    n_betas: int = 10
    init: str = "random"
    data: str = "builtin"
    seed: int = 0

    def __post_init__(self) -> None:
        from ..boltzmann.samplers import SAMPLERS

        check.choice("sampler", self.sampler, SAMPLERS)
        check.whole("n", self.n, at_least=1)
        check.whole("chains", self.chains, at_least=1)
        check.whole("burn_in", self.burn_in, at_least=0)
        beta = check.number("beta_min", self.beta_min, at_least=0.0)
        if not beta < 1.0:
            raise ValueError(f"beta_min must be in [0, 1), got {beta:g}")
        check.whole("n_betas", self.n_betas, at_least=2)
        check.choice("init", self.init, ("random", "data"))
        _data("data", self.data)
        check.whole("seed", self.seed, at_least=0)


def initial_states(rbm, header: dict, config: SampleConfig):
    """The chains' starting states: None (random), or the first ``chains`` training images
    (with labels) of ``config.data``; ValueError when their units do not fit the model."""
    if config.init != "data":
        return None
    v, _xte, _yte, _prov = classification_data(
        config.data, header.get("data", {}).get("binarization", "threshold"), 0)
    if v.shape[1] != rbm.n_visible:
        raise ValueError(f"init data: data has {v.shape[1]} units, the model {rbm.n_visible}")
    return v[:config.chains].to(rbm.dtype)


def sample(rbm, config: SampleConfig, init=None) -> dict:
    """Draw ``config.n`` samples per chain: ``visible`` and ``hidden`` (chains, n, units) uint8
    arrays, the sampler's ``info``, ``wall_s`` and, for a model with labels, the RBM's label
    read-out ``class_switches_per_1000``."""
    import torch

    from ..boltzmann.samplers import get_sampler

    opts = {"burn_in": config.burn_in}
    if config.sampler != "gibbs":
        opts["betas"] = torch.linspace(1.0, config.beta_min, config.n_betas)
    s = get_sampler(config.sampler, **opts)
    t0 = time.perf_counter()
    states = s.sample(rbm, config.n, chains=config.chains, seed=config.seed, init=init)
    wall = time.perf_counter() - t0
    vis = states[..., : rbm.n_visible].to(torch.uint8).numpy()
    hid = states[..., rbm.n_visible:].to(torch.uint8).numpy()
    out = {"visible": vis, "hidden": hid, "wall_s": wall,
           "info": {k: v for k, v in s.info.items() if k != "log_weights"}}
    if rbm.n_labels:
        from ..metrics import class_switches

        pix = torch.from_numpy(vis[..., : rbm.n_pixels]).reshape(-1, rbm.n_pixels)
        labels = rbm.classify(pix).reshape(config.chains, config.n)
        out["class_switches_per_1000"] = class_switches(labels)
    return out


__all__ = ["EvaluateConfig", "SampleConfig", "check_mnist_model", "classification_data",
           "evaluate", "evaluation_data", "initial_states", "sample"]
