"""Claims of the classical side (docs/classical.md): ``rbm-accuracy``, ``ais``.

Full runs need full MNIST (``$LIFSAMPLING_DATA`` or the cache, see :mod:`lifsampling.datasets`);
``--quick`` runs use the shipped 5,000 + 1,000 subset only.
"""

from __future__ import annotations

import math

import numpy as np

from . import Claim, ClaimConfig, register


def require_full_mnist(config: ClaimConfig) -> None:
    """Full runs need full MNIST: fail before the run directory is made, with the message of
    :func:`lifsampling.datasets.load_mnist` (FileNotFoundError), if it cannot be found."""
    if not config.quick:
        from ...datasets import load_mnist

        load_mnist("mnist", download=False, verify=False)


def _device(name: str):
    from ...engine import resolve_device

    return resolve_device(name)


def _data(source: str, seed: int = 0):
    """(v_train (n, 794) with one-hot labels, x_test, y_test, provenance), threshold-binarised,
    as in ``lifsampling train-rbm``."""
    import torch

    from ...datasets import binarize, load_mnist, with_labels

    ds = load_mnist(source, download=False) if source == "mnist" else load_mnist(source)
    xtr = binarize(ds.x_train, "threshold", seed=seed)
    xte = binarize(ds.x_test, "threshold", seed=seed + 1)
    prov = dict(ds.provenance, n_train=int(len(ds.y_train)), n_test=int(len(ds.y_test)))
    return (torch.from_numpy(with_labels(xtr, ds.y_train)).float(),
            torch.from_numpy(xte).float(), torch.from_numpy(ds.y_test), prov)


def _train_config(p: dict, seed: int):
    from ...boltzmann.train import TrainConfig

    return TrainConfig(n_hidden=p["hidden"], epochs=p["epochs"], batch_size=p["batch_size"],
                       lr=p["lr"], lr_schedule=p["lr_schedule"],
                       momentum_initial=p["momentum"], momentum=p["momentum"],
                       weight_decay=p["weight_decay"], persistent=p["pcd"],
                       n_persistent=p["n_persistent"], seed=seed)


def _train_params(quick: bool, hidden_quick: int, epochs_quick: int) -> dict:
    """The documented set-up (docs/classical.md §1) or its scaled-down version."""
    return {"data": "builtin" if quick else "mnist", "binarization": "threshold",
            "hidden": hidden_quick if quick else 500, "epochs": epochs_quick if quick else 10,
            "batch_size": 20, "lr": 0.05, "lr_schedule": "linear", "momentum": 0.5,
            "weight_decay": 2e-4, "pcd": True, "n_persistent": 100, "labels": 10}


# --------------------------------------------------------------------------- rbm-accuracy
def _acc_params(config: ClaimConfig) -> dict:
    require_full_mnist(config)
    p = _train_params(config.quick, hidden_quick=100, epochs_quick=1)
    p["seeds"] = config.seed_list(full=10, quick=3)
    p["seed_meaning"] = "training seed (initial weights, PCD chains, minibatch order)"
    p["threads"] = 1
    return p


def _run_acc(config: ClaimConfig) -> dict:
    import torch

    from ...boltzmann.train import save_rbm, train_rbm

    torch.set_num_threads(1)
    p = _acc_params(config)
    dev = _device(config.device)
    v, xte, yte, prov = _data(p["data"])
    per_seed = []
    for seed in p["seeds"]:
        cfg = _train_config(p, seed)
        rbm, hist = train_rbm(v.to(dev), cfg, n_labels=p["labels"],
                              eval_data=(xte.to(dev), yte), progress=config.progress)
        acc = hist[-1]["test_accuracy"]
        n = len(yte)
        per_seed.append({"seed": seed, "value": 100 * acc, "accuracy": acc, "n_test": n,
                         "binomial_se": math.sqrt(acc * (1 - acc) / n), "history": hist})
        if config.run_dir is not None and seed == p["seeds"][0]:
            save_rbm(config.figure_path(f"rbm_seed{seed}.npz"), rbm, cfg, data=prov,
                     history=hist)
    accs = np.array([r["accuracy"] for r in per_seed])
    mean, n = float(accs.mean()), per_seed[0]["n_test"]
    return {"figure": 100 * mean, "per_seed": per_seed, "extras": {
        "statistic": "test accuracy of the label units (free-energy classification), "
                     "mean over training seeds, in %",
        # binomial s.e. of one seed's accuracy on n test images, and of the mean over seeds
        "binomial_se": 100 * math.sqrt(mean * (1 - mean) / n),
        "binomial_se_of_mean": 100 * math.sqrt(mean * (1 - mean) / (n * len(accs))),
        "n_test": n, "data": prov.get("source", p["data"]), "hidden": p["hidden"],
        "epochs": p["epochs"]}}


register(Claim(
    name="rbm-accuracy",
    summary="794-500 classification RBM, PCD-1, 10 epochs on full MNIST: test accuracy",
    doc="docs/classical.md §1", reference=97.07, unit="%", run=_run_acc,
    parameters=_acc_params))


# --------------------------------------------------------------------------- ais
def _ais_params(config: ClaimConfig) -> dict:
    require_full_mnist(config)
    q = config.quick
    p = {"model": _train_params(q, hidden_quick=12, epochs_quick=1),
         "ais_runs": 100, "ais_betas": 1000 if q else 14500,
         "schedule": "Salakhutdinov (density of the 14,500-step ladder)",
         "base_rate": "fitted to the training data (with labels)",
         "model_seed": 0, "seeds": config.seed_list(full=10, quick=3),
         "seed_meaning": "AIS seed; one model (training seed 0) for all seeds",
         "exact_log_z": q, "threads": 1}
    return p


def _run_ais(config: ClaimConfig) -> dict:
    import torch

    from ...boltzmann.ais import ais_log_z, average_log_likelihood
    from ...boltzmann.model import exact_log_partition
    from ...boltzmann.train import save_rbm, train_rbm

    torch.set_num_threads(1)
    p = _ais_params(config)
    mp = p["model"]
    dev = _device(config.device)
    v, xte, yte, prov = _data(mp["data"])
    cfg = _train_config(mp, p["model_seed"])
    rbm, hist = train_rbm(v.to(dev), cfg, n_labels=mp["labels"], eval_data=(xte.to(dev), yte),
                          progress=config.progress)
    if config.run_dir is not None:
        save_rbm(config.figure_path("rbm.npz"), rbm, cfg, data=prov, history=hist)
    r64 = rbm.to(dtype=torch.float64)
    x64 = xte.double().to(dev)
    log_p_tilde = average_log_likelihood(r64, x64, 0.0, marginalize_labels=True)
    exact = None
    if p["exact_log_z"]:
        # exact log Z: sum over the 2^n_hidden hidden configurations, visible units summed out
        # analytically (boltzmann.model.exact_log_partition flips the RBM when n_h < n_v)
        exact = exact_log_partition(r64)
    per_seed = []
    for seed in p["seeds"]:
        res = ais_log_z(rbm, n_runs=p["ais_runs"], betas=p["ais_betas"], v_data=v.to(dev),
                        seed=seed, progress=config.progress)
        entry = {"seed": seed, "value": log_p_tilde - res.log_z, **res.as_dict()}
        if exact is not None:
            entry["log_z_error"] = res.log_z - exact
        per_seed.append(entry)
    lls = [r["value"] for r in per_seed]
    extras = {"statistic": "average test log-likelihood (labels summed out) with AIS log Z, "
                           "mean over AIS seeds",
              "log_z_ais": float(np.mean([r["log_z"] for r in per_seed])),
              "log_w_std": float(np.mean([r["log_w_std"] for r in per_seed])),
              "test_accuracy": hist[-1]["test_accuracy"], "hidden": mp["hidden"],
              "n_test": int(len(yte)), "data": prov.get("source", mp["data"])}
    if exact is not None:
        errs = [r["log_z_error"] for r in per_seed]
        extras.update(log_z_exact=exact, test_log_likelihood_exact=log_p_tilde - exact,
                      log_z_error_mean=float(np.mean(errs)),
                      log_z_abs_error_max=float(np.max(np.abs(errs))))
    return {"figure": float(np.mean(lls)), "per_seed": per_seed, "extras": extras}


register(Claim(
    name="ais",
    summary="AIS test log-likelihood of the PCD 794-500 RBM (labels summed out)",
    doc="docs/classical.md §2", reference=-85.54, unit="nats/image", run=_run_ais,
    parameters=_ais_params))
