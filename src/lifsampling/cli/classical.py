"""Classical commands: train-rbm, evaluate, sample (RBM on MNIST, Gibbs / AST / PT)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ._app import app, fail, print_json


def _threads(n: int) -> None:
    import torch

    if n < 1:
        fail(f"--threads must be >= 1, got {n}")
    torch.set_num_threads(n)


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


@app.command("train-rbm")
def train_rbm_cmd(
    out: Path = typer.Option(..., "--out", help="model file to write (npz)"),
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
    threads: int = typer.Option(2, "--threads", help="CPU threads for torch"),
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
    t0 = time.perf_counter()

    def log(entry: dict) -> None:
        typer.echo(json.dumps({k: round(x, 5) if isinstance(x, float) else x
                               for k, x in entry.items()}), err=True)

    rbm, hist = train_rbm(v.to(dev), cfg, n_labels=10, eval_data=(xte.to(dev), yte),
                          progress=progress, log=log)
    wall = time.perf_counter() - t0
    save_rbm(out, rbm, cfg, data=prov, history=hist,
             extra={"training_wall_s": wall, "device": str(dev),
                    "torch_threads": threads})
    typer.echo(f"saved {out}: test accuracy {hist[-1]['test_accuracy']:.4f}, "
               f"training {wall:.1f} s on {dev}")
