"""Evaluation commands: generative-quality (metrics of saved samples)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import fail, print_json
from ._run import begin, experiment, record

QUALITY_KEYS = ("fd", "fd_floor", "precision", "recall", "precision_floor", "recall_floor",
                "isl", "mode_switches_per_1000", "confident_fraction", "rhat", "mean_pixel")


def _sample_arrays(path: Path) -> dict:
    """The arrays of an npz of samples, each checked to be 0/1 of shape (chains, n, >= 784)."""
    import numpy as np

    from ..io import read_npz

    if path.is_dir():
        fail(f"{path} is a directory, not an npz file")
    arrays = read_npz(path, "samples file")
    if not arrays:
        fail(f"{path} holds no arrays")
    for name, a in arrays.items():
        if a.ndim != 3 or a.shape[1] < 2 or a.shape[2] < 784:
            fail(f"array {name!r} in {path} has shape {a.shape}; samples must be "
                 "(chains, n >= 2, >= 784) with the 784 pixels first")
        if a.dtype.kind not in "biuf" or not np.isin(a[..., :784], (0, 1)).all():
            fail(f"array {name!r} in {path} is not binary: samples must be 0/1")
    return arrays


@experiment("generative-quality")
def generative_quality_cmd(
    samples: Path = typer.Argument(..., help="npz with one (chains, n, >=784) 0/1 array per "
                                   "sampler (e.g. samples.npz from stp-mixing)"),
    data: str = typer.Option("auto", "--data", help="reference images: auto, builtin, mnist "
                             "or a directory"),
    n_test: int = typer.Option(1000, "--n-test", help="reference test (and validation) images"),
    seed: int = typer.Option(0, "--seed", help="subsampling seed of the FD floor"),
    json_out: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
) -> None:
    """Fréchet distance (and its train-vs-test floor), k-NN precision/recall, validated ISL,
    mode switches between confident runs, confident fraction, split-R̂ and mean pixel of each
    array of binary MNIST samples."""
    from ..comparison import evaluation_data, sample_statistics

    if n_test < 10:
        fail(f"--n-test must be >= 10, got {n_test}")
    arrays = _sample_arrays(samples)
    ref = evaluation_data(data, n_test=n_test)
    begin()
    out = {}
    for name, a in arrays.items():
        st = sample_statistics(a[..., :784], ref, seed=seed)
        out[name] = {k: st[k] for k in QUALITY_KEYS} | {"n_samples": st["n_samples"],
                                                         "isl_beta": st["isl_beta"]}
    record(out)
    if json_out:
        print_json(out)
        return
    typer.echo(f"{'array':<12}" + "".join(f"{k[:12]:>13}" for k in QUALITY_KEYS))
    for name, st in out.items():
        typer.echo(f"{name:<12}" + "".join(f"{st[k]:>13.4g}" for k in QUALITY_KEYS))
