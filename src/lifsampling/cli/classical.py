"""Classical commands: train-rbm, evaluate, sample (RBM on MNIST, Gibbs / AST / PT)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ._app import compute, fail, output_file, print_json
from ._run import begin, experiment, record


def _threads(n: int) -> None:
    compute(n)


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        fail("--device cuda requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        fail(f"unknown device {name!r}; use auto, cpu or cuda")


def _classification_data(data: str, binarization: str, seed: int):
    """(v_train (n, 794), x_test, y_test, provenance) as torch tensors."""
    import torch

    from ..datasets import binarize, load_mnist, with_labels

    ds = load_mnist(data)
    xtr = binarize(ds.x_train, binarization, seed=seed)
    xte = binarize(ds.x_test, binarization, seed=seed + 1)
    prov = dict(ds.provenance, binarization=binarization, binarization_seed=seed,
                n_train=int(len(ds.y_train)), n_test=int(len(ds.y_test)))
    return (torch.from_numpy(with_labels(xtr, ds.y_train)), torch.from_numpy(xte),
            torch.from_numpy(ds.y_test), prov)


@experiment("train-rbm")
def train_rbm_cmd(
    out: Path = typer.Option(..., "--out", help="model file to write (npz)",
                             callback=output_file),
    hidden: int = typer.Option(500, "--hidden", help="number of hidden units"),
    epochs: int = typer.Option(20, "--epochs", help="passes over the training set"),
    data: str = typer.Option("builtin", "--data",
                             help="'builtin' (shipped subset), 'mnist' (full) or a directory"),
    batch_size: int = typer.Option(20, "--batch-size"),
    lr: float = typer.Option(0.05, "--lr", help="initial learning rate"),
    lr_schedule: str = typer.Option("linear", "--lr-schedule", help="constant|linear|inverse"),
    momentum: float = typer.Option(0.9, "--momentum", help="momentum after the first epochs"),
    weight_decay: float = typer.Option(2e-4, "--weight-decay"),
    cd_k: int = typer.Option(1, "--cd-k", help="Gibbs steps per update"),
    pcd: bool = typer.Option(False, "--pcd/--cd", help="persistent CD instead of CD-k"),
    discriminative_weight: float = typer.Option(
        0.0, "--discriminative-weight", help="alpha of the hybrid term alpha*log p(y|x)"),
    binarization: str = typer.Option("threshold", "--binarize", help="threshold|stochastic"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", help="CPU threads for torch"),
    device: str = typer.Option("auto", "--device", help="auto|cpu|cuda"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train the classification RBM (784 pixels + 10 label units visible) by CD-k or PCD."""
    from ..boltzmann.train import TrainConfig, save_rbm, train_rbm

    _threads(threads)
    dev = _device(device)
    if out.suffix != ".npz":
        fail(f"--out must end in .npz, got {out}")
    if binarization not in ("threshold", "stochastic"):
        fail(f"--binarize must be threshold or stochastic, got {binarization!r}")
    cfg = TrainConfig(n_hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                      lr_schedule=lr_schedule, momentum=momentum, weight_decay=weight_decay,
                      cd_k=cd_k, persistent=pcd, discriminative_weight=discriminative_weight,
                      seed=seed)
    v, xte, yte, prov = _classification_data(data, binarization, seed)
    begin(cfg)
    t0 = time.perf_counter()

    def log(entry: dict) -> None:
        typer.echo(json.dumps({k: round(x, 5) if isinstance(x, float) else x
                               for k, x in entry.items()}), err=True)

    def save(model, hist, complete: bool) -> None:
        save_rbm(out, model, cfg, data=prov, history=hist,
                 extra={"training_wall_s": time.perf_counter() - t0, "device": str(dev),
                        "torch_threads": threads, "complete": complete})

    rbm, hist = train_rbm(v.to(dev), cfg, n_labels=10, eval_data=(xte.to(dev), yte),
                          progress=progress, log=log,
                          checkpoint=lambda m, h: save(m, h, len(h) == cfg.epochs))
    wall = time.perf_counter() - t0
    record({"out": str(out), "test_accuracy": hist[-1].get("test_accuracy"),
            "training_wall_s": wall, "device": str(dev), "data": prov, "history": hist})
    typer.echo(f"saved {out}: test accuracy {hist[-1]['test_accuracy']:.4f}, "
               f"training {wall:.1f} s on {dev}")


def _load_model(path: Path):
    from ..boltzmann.train import load_rbm

    return load_rbm(path)


def _check_mnist_model(rbm, path: Path) -> None:
    from ..datasets import N_PIXELS

    if rbm.n_pixels != N_PIXELS:
        fail(f"model {path} has {rbm.n_visible} visible units ({rbm.n_labels} labels); "
             f"MNIST needs {N_PIXELS} pixels (+ label units)")


@experiment("evaluate")
def evaluate_cmd(
    model: Path = typer.Argument(..., help="model file (npz) from train-rbm"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    data: str = typer.Option("builtin", "--data", help="'builtin', 'mnist' or a directory"),
    ais_runs: int = typer.Option(100, "--ais-runs", help="independent AIS runs"),
    ais_betas: int = typer.Option(14500, "--ais-betas",
                                  help="AIS intermediate distributions (Salakhutdinov density)"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads"),
) -> None:
    """Test accuracy of the label units, AIS log Z and the average test log-likelihood."""
    import torch

    from ..boltzmann.ais import ais_log_z, average_log_likelihood
    from ..boltzmann.train import classification_accuracy

    _threads(threads)
    if ais_runs < 1 or ais_betas < 3:
        fail("--ais-runs must be >= 1 and --ais-betas >= 3")
    rbm, header = _load_model(model)
    _check_mnist_model(rbm, model)
    binarization = header.get("data", {}).get("binarization", "threshold")
    bin_seed = int(header.get("data", {}).get("binarization_seed", 0))
    v, xte, yte, prov = _classification_data(data, binarization, bin_seed)
    begin()
    t0 = time.perf_counter()
    acc = classification_accuracy(rbm, xte, yte) if rbm.n_labels == 10 else None
    v_base = v if rbm.n_labels == 10 else v[:, : rbm.n_visible]
    ais = ais_log_z(rbm, n_runs=ais_runs, betas=ais_betas, v_data=v_base, seed=seed,
                    progress=not as_json)
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
        "model": str(model), "wall_s": time.perf_counter() - t0,
        "units": "nats per test image; test_log_likelihood sums out the label units",
    })
    record(result)
    if as_json:
        print_json(result)
    else:
        if acc is not None:
            typer.echo(f"accuracy            {acc:.4f}")
        typer.echo(f"log Z (AIS)         {ais.log_z:.3f}  [{ais.log_z_lower:.3f}, "
                   f"{ais.log_z_upper:.3f}]  ({ais.n_runs} runs, {ais.n_betas} betas)")
        typer.echo(f"test log-likelihood {ll:.3f} nats/image")


@experiment("sample")
def sample_cmd(
    model: Path = typer.Argument(..., help="model file (npz) from train-rbm"),
    sampler: str = typer.Option("gibbs", "--sampler", help="gibbs|ast|pt"),
    n: int = typer.Option(1000, "--n", help="samples per chain"),
    out: Path = typer.Option(..., "--out", help="output npz", callback=output_file),
    chains: int = typer.Option(1, "--chains"),
    burn_in: int = typer.Option(100, "--burn-in", help="sweeps (gibbs, pt) / steps (ast)"),
    beta_min: float = typer.Option(0.8, "--beta-min", help="lowest inverse temperature"),
    n_betas: int = typer.Option(10, "--n-betas", help="temperatures of the AST/PT ladder"),
    init: str = typer.Option("random", "--init",
                             help="'random' or 'data' (first training images of the data)"),
    data: str = typer.Option("builtin", "--data", help="data for --init data"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads"),
) -> None:
    """Draw samples from a model with Gibbs, AST or PT; writes visible and hidden states."""
    import numpy as np
    import torch

    from ..boltzmann.samplers import SAMPLERS, get_sampler
    from ..io import write_npz

    _threads(threads)
    if sampler not in SAMPLERS:
        fail(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if n <= 0 or chains <= 0:
        fail(f"--n and --chains must be positive, got {n} and {chains}")
    if burn_in < 0:
        fail(f"--burn-in must be >= 0, got {burn_in}")
    if not 0 <= beta_min < 1 or n_betas < 2:
        fail("--beta-min must be in [0, 1) and --n-betas >= 2")
    if out.suffix != ".npz":
        fail(f"--out must end in .npz, got {out}")
    rbm, header = _load_model(model)
    opts = {"burn_in": burn_in}
    if sampler != "gibbs":
        opts["betas"] = torch.linspace(1.0, beta_min, n_betas)
    s = get_sampler(sampler, **opts)
    x0 = None
    if init == "data":
        v, _xte, _yte, _prov = _classification_data(
            data, header.get("data", {}).get("binarization", "threshold"), 0)
        if v.shape[1] != rbm.n_visible:
            fail(f"--init data: data has {v.shape[1]} units, the model {rbm.n_visible}")
        x0 = v[:chains].to(rbm.dtype)
    elif init != "random":
        fail(f"--init must be 'random' or 'data', got {init!r}")
    begin()
    t0 = time.perf_counter()
    states = s.sample(rbm, n, chains=chains, seed=seed, init=x0)
    wall = time.perf_counter() - t0
    vis = states[..., : rbm.n_visible].to(torch.uint8).numpy()
    hid = states[..., rbm.n_visible:].to(torch.uint8).numpy()
    info = {k: v for k, v in s.info.items() if k != "log_weights"}
    meta = {"model": str(model), "sampler": sampler, "n": n, "chains": chains, "seed": seed,
            "burn_in": burn_in, "init": init, "wall_s": wall, "info": info,
            "layout": "visible (chains, n, n_visible) then hidden (chains, n, n_hidden), uint8"}
    write_npz(out, visible=vis, hidden=hid, meta=np.array(json.dumps(meta, default=str)))
    msg = f"wrote {out}: {chains} x {n} samples with {sampler} in {wall:.1f} s"
    summary = {**meta, "out": str(out)}
    if rbm.n_labels:
        from ..metrics import class_switches

        pix = torch.from_numpy(vis[..., : rbm.n_pixels]).reshape(-1, rbm.n_pixels)
        labels = rbm.classify(pix).reshape(chains, n)
        switches = class_switches(labels)
        summary["class_switches_per_1000"] = switches
        msg += f"; class switches/1000 (RBM label units): {switches:.1f}"
    record(summary)
    typer.echo(msg)
