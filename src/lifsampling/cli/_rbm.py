"""Options and loaders shared by the commands that run a spiking MNIST RBM."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import fail

CAL_OPT = typer.Option(None, "--calibration",
                       help="calibration: a shipped preset (sbs-tutorial, fast-membrane) or the "
                       "path of a calibration JSON (default: fast-membrane)")
DEV_OPT = typer.Option("auto", "--device", help="auto, cpu or cuda")
MODEL_ARG = typer.Argument(..., help="classification RBM (npz from train-rbm)")
DATA_OPT = typer.Option("auto", "--data", help="auto, builtin, mnist or a directory")
THR_OPT = typer.Option(2, "--threads", help="torch CPU threads")


def calibration(name_or_path: str | None):
    """The named preset or calibration file (default: the fast-membrane neuron)."""
    from .core import _load_calibration

    return _load_calibration(name_or_path, default="fast-membrane")


def mnist_model(path: Path):
    """An MNIST classification RBM (784 pixels + 10 labels) and its header; one-line errors."""
    from ..boltzmann.train import load_rbm

    if not path.is_file():
        fail(f"model file not found: {path}")
    rbm, header = load_rbm(path)
    if rbm.n_pixels != 784 or rbm.n_labels != 10:
        fail(f"{path} has {rbm.n_pixels} pixels and {rbm.n_labels} label units; an MNIST "
             "classification RBM (784 pixels + 10 labels) is needed")
    return rbm, header
