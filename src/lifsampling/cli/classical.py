"""Classical commands: train-rbm, evaluate, sample (RBM on MNIST, Gibbs / AST / PT)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from ._app import compute, configure, fail, output_file, print_json
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
    from ..experiments.classical_rbm import classification_data

    return classification_data(data, binarization, seed)


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
    from ..experiments.classical_rbm import (
        EvaluateConfig,
        check_mnist_model,
        evaluate,
        evaluation_data,
    )

    _threads(threads)
    cfg = configure(EvaluateConfig, data=data, ais_runs=ais_runs, ais_betas=ais_betas,
                    seed=seed)
    rbm, header = _load_model(model)
    check_mnist_model(rbm, model)
    test_data = evaluation_data(header, cfg)
    begin(cfg)
    result = evaluate(rbm, test_data, cfg, progress=not as_json)
    result["model"] = str(model)
    record(result)
    if as_json:
        print_json(result)
    else:
        if result["accuracy"] is not None:
            typer.echo(f"accuracy            {result['accuracy']:.4f}")
        typer.echo(f"log Z (AIS)         {result['log_z']:.3f}  [{result['log_z_lower']:.3f}, "
                   f"{result['log_z_upper']:.3f}]  ({result['ais_runs']} runs, "
                   f"{result['ais_betas']} betas)")
        typer.echo(f"test log-likelihood {result['test_log_likelihood']:.3f} nats/image")


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

    from ..experiments.classical_rbm import SampleConfig, initial_states
    from ..experiments.classical_rbm import sample as draw
    from ..io import write_npz

    _threads(threads)
    cfg = configure(SampleConfig, sampler=sampler, n=n, chains=chains, burn_in=burn_in,
                    beta_min=beta_min, n_betas=n_betas, init=init, data=data, seed=seed)
    if out.suffix != ".npz":
        fail(f"--out must end in .npz, got {out}")
    rbm, header = _load_model(model)
    x0 = initial_states(rbm, header, cfg)
    begin(cfg)
    res = draw(rbm, cfg, x0)
    meta = {"model": str(model), "sampler": sampler, "n": n, "chains": chains, "seed": seed,
            "burn_in": burn_in, "init": init, "wall_s": res["wall_s"], "info": res["info"],
            "layout": "visible (chains, n, n_visible) then hidden (chains, n, n_hidden), uint8"}
    write_npz(out, visible=res["visible"], hidden=res["hidden"],
              meta=np.array(json.dumps(meta, default=str)))
    msg = f"wrote {out}: {chains} x {n} samples with {sampler} in {res['wall_s']:.1f} s"
    summary = {**meta, "out": str(out)}
    if "class_switches_per_1000" in res:
        switches = res["class_switches_per_1000"]
        summary["class_switches_per_1000"] = switches
        msg += f"; class switches/1000 (RBM label units): {switches:.1f}"
    record(summary)
    typer.echo(msg)
