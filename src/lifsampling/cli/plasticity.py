"""Plasticity commands: plasticity-protocol, train-calcium-mnist, calcium-mnist-study,
plasticity-figures."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ._app import (
    USER_LOCATION_HELP,
    configure,
    fail,
    output_dir,
    output_file,
    parse_floats,
    parse_seeds,
    print_json,
)
from ._run import begin, default_output, experiment, record


@experiment("plasticity-protocol")
def plasticity_protocol(
    protocol: str = typer.Argument(..., help="stdp | frequency | rate"),
    rule: str = typer.Option("bicall", help="bicall | graupner-brunel"),
    gb_preset: str = typer.Option("DP", help="Graupner-Brunel parameter set: DP, cortical, "
                                  "hippocampal"),
    dt: str = typer.Option(None, help="spike-time differences in ms (stdp: default -100..100 "
                           "step 5; frequency: default 10,-10)"),
    freqs: str = typer.Option(None, help="frequency protocol: pairing frequencies in Hz "
                              "(default 0.1,10,20,40,50)"),
    rates: str = typer.Option(None, help="rate protocol: rates in Hz for pre and post "
                              "(default 1,2,5,10,20,30,50,80)"),
    duration_ms: float = typer.Option(1000.0, help="rate protocol: trial length in ms"),
    reps: int = typer.Option(100, help="independent repetitions per condition"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Run a plasticity protocol on single synapses driven by prescribed spike trains."""
    from ..experiments.calcium_protocols import ProtocolConfig, run_protocol

    dts, fs, rs = (None if text is None else parse_floats(text, option)
                   for text, option in ((dt, "--dt"), (freqs, "--freqs"), (rates, "--rates")))
    cfg = configure(ProtocolConfig, {"dts_ms": "--dt", "freqs_hz": "--freqs",
                                     "rates_hz": "--rates"},
                    protocol=protocol, rule=rule, gb_preset=gb_preset, dts_ms=dts, freqs_hz=fs,
                    rates_hz=rs, duration_ms=duration_ms, reps=reps, seed=seed, device=device)
    begin(cfg.describe())
    res = run_protocol(cfg)
    record(res)
    if json_out:
        print_json(res)
        return
    keys = [k for k in ("dt_ms", "freq_hz", "pre_rate_hz", "post_rate_hz") if k in res]
    vals = ["p_potentiation", "p_depression", "dw_effective", "dw_hidden_mean"]
    typer.echo("\t".join(keys + vals))
    for i in range(len(res["dw_effective"])):
        typer.echo("\t".join(f"{res[k][i]:g}" for k in keys + vals))


@experiment("train-calcium-mnist")
def train_calcium_mnist(
    data_dir: Path = typer.Option(None, help="folder with the MNIST IDX files, or holding them "
                                  "in mnist/, or 'builtin' for the shipped subset (default: "
                                  "$LIFSAMPLING_DATA)"),
    architecture: str = typer.Option("feedforward", help="feedforward | recurrent"),
    n_train: int = typer.Option(60000, help="training images (first n of the training set)"),
    n_test: int = typer.Option(10000, help="test images (first n of the test set)"),
    epochs: int = typer.Option(None, show_default=False, help="passes over the training "
                               "images (the learning rate is multiplied by lr_decay after "
                               "each; default: MnistConfig.epochs, 2)"),
    pool: int = typer.Option(None, "--neurons-per-class", "--pool", show_default=False,
                             help="output neurons per class (a population per class; "
                             "default: MnistConfig.pool, 40)"),
    resume: bool = typer.Option(False, "--resume", help="continue from the checkpoint written "
                                "after every epoch (same settings; --epochs may be larger)"),
    checkpoint: Path = typer.Option(None, help="checkpoint file (default: OUT/calcium_mnist_"
                                    "ARCH.checkpoint.npz, or calcium/ in the user cache)",
                                    callback=output_file),
    eval_every: int = typer.Option(0, help="also record the accuracy on the first 1,000 test "
                                   "images every this many training images (0: never)"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    out: Path = typer.Option(None, help="write weights (npz) + results (json) to this folder",
                             callback=output_dir),
    figures: Path = typer.Option(None, help="save the learned weights per class as a PNG here",
                                 callback=output_file),
    config: str = typer.Option(None, help="JSON object overriding MnistConfig fields, e.g. "
                               "'{\"c_d1\": -0.05, \"theta_stop_high\": 0.5}'"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Train a spiking classifier on MNIST with the BiCaLL rule only (teacher-driven)."""
    from ..experiments.calcium_mnist_training import run_mnist

    if architecture not in ("feedforward", "recurrent"):
        fail(f"unknown architecture {architecture!r}; use feedforward or recurrent")
    for name, v in (("--n-train", n_train), ("--n-test", n_test), ("--epochs", epochs),
                    ("--neurons-per-class", pool)):
        if v is not None and v <= 0:
            fail(f"{name} must be > 0, got {v}")
    if eval_every < 0:
        fail(f"--eval-every must be >= 0, got {eval_every}")
    data_dir = _data_dir(data_dir)
    cfg = _mnist_config(config, architecture=architecture, n_train=n_train, n_test=n_test,
                        epochs=epochs, pool=pool, seed=seed, device=device)
    begin(cfg, data_dir=data_dir)
    try:
        res = run_mnist(cfg, data_dir, out_dir=out, progress=not json_out, figures=figures,
                        resume=resume, checkpoint=checkpoint, eval_every=eval_every)
    except ValueError as exc:
        fail(str(exc))
    record(res)
    if json_out:
        print_json(res)
    else:
        typer.echo(f"test_accuracy {res['test_accuracy']:.4f}  (train {res['train_time_s']:.0f} s, "
                   f"checkpoint {res['checkpoint']})")


def _data_dir(data_dir: Path | None) -> Path:
    """The MNIST folder (or 'builtin'): the option, else $LIFSAMPLING_DATA, else an error."""
    if data_dir is None:
        env = os.environ.get("LIFSAMPLING_DATA")
        if not env:
            fail("no data: pass --data-dir or set LIFSAMPLING_DATA to a folder holding MNIST")
        data_dir = Path(env)
    return data_dir


def _mnist_config(config: str | None, **fields_):
    """MnistConfig from the command's options and its ``--config`` JSON object, validated."""
    import json
    from dataclasses import fields

    from ..experiments.calcium_mnist import MnistConfig

    extra = {}
    if config:
        try:
            extra = json.loads(config)
        except json.JSONDecodeError as exc:
            fail(f"--config is not valid JSON: {exc}")
        if not isinstance(extra, dict):
            fail("--config must be a JSON object")
        known = {f.name for f in fields(MnistConfig)}
        bad = sorted(set(extra) - known)
        if bad:
            fail(f"--config: unknown field(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    try:
        given = {k: v for k, v in fields_.items() if v is not None}
        cfg = MnistConfig(**{**given, **extra})
        cfg.validate()
    except (TypeError, ValueError) as exc:
        fail(f"--config: {exc}")
    return cfg


@experiment("calcium-mnist-study")
def calcium_mnist_study(
    study: str = typer.Argument(..., help="ablations | correlation | ceiling"),
    data_dir: Path = typer.Option(None, help="MNIST folder or 'builtin' (default: "
                                  "$LIFSAMPLING_DATA)"),
    n_train: int = typer.Option(30000, help="training images (first n of the training set)"),
    n_test: int = typer.Option(10000, help="ablations: test images"),
    epochs: int = typer.Option(1, help="passes over the training images (1: the studies' "
                               "pilot length; train-calcium-mnist and MnistConfig train 2)"),
    rows: str = typer.Option(None, help="ablations: comma-separated row names (default: all)"),
    correlations: str = typer.Option("0,0.1,0.2,0.4", help="correlation: input correlations c"),
    seeds: str = typer.Option("0,1,2", help="correlation: seeds; ablations: the first is used"),
    eval_every: int = typer.Option(2000, help="correlation: training images between tests"),
    eval_n: int = typer.Option(1000, help="correlation: test images of each test"),
    level: float = typer.Option(0.9, help="correlation: accuracy whose images-to-reach is "
                                "reported"),
    device: str = typer.Option("cpu", help="auto | cpu | cuda"),
    config: str = typer.Option(None, help="JSON object overriding MnistConfig fields"),
    out: Path = typer.Option(None, help="write the results here (JSON)", callback=output_file),
    plot: Path = typer.Option(None, help="correlation: save the learning curves as a PNG",
                              callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Ablations of the calcium MNIST classifier's mechanisms, its learning curves for
    correlated input at matched rates, or the accuracy ceiling of binary templates."""
    from ..experiments import calcium_mnist_study as st
    from ..experiments.calcium_mnist import load_mnist
    from ..io import write_json

    if study not in ("ablations", "correlation", "ceiling"):
        fail(f"unknown study {study!r}; use ablations, correlation or ceiling")
    for name, v in (("--n-train", n_train), ("--n-test", n_test), ("--epochs", epochs),
                    ("--eval-every", eval_every), ("--eval-n", eval_n)):
        if v <= 0:
            fail(f"{name} must be > 0, got {v}")
    seed_list = list(parse_seeds(seeds))
    cs = parse_floats(correlations, "--correlations")
    if any(not 0 <= c <= 1 for c in cs):
        fail("--correlations must lie in [0, 1]")
    row_list = [r.strip() for r in rows.split(",")] if rows else None
    if row_list:
        unknown = [r for r in row_list if r not in st.ABLATIONS]
        if unknown:
            fail(f"unknown row(s) {', '.join(unknown)}; known: {', '.join(st.ABLATIONS)}")
    data_dir = _data_dir(data_dir)
    cfg = _mnist_config(config, n_train=n_train, n_test=n_test, epochs=epochs,
                        seed=seed_list[0], device=device)
    begin(cfg, data_dir=data_dir)
    try:
        data = load_mnist(data_dir)
        if study == "ablations":
            res = st.run_ablations(cfg, data, row_list, progress=not json_out)
        elif study == "ceiling":
            res = st.template_ceiling(data, n_test=n_test, seed=seed_list[0])
        else:
            res = st.run_correlation(cfg, data, cs, seed_list, eval_every, eval_n, level,
                                     progress=not json_out)
    except ValueError as exc:
        fail(str(exc))
    res["study"] = study
    if out is not None:
        write_json(out, res)
    if plot is not None and study == "correlation":
        st.plot_learning_curves(res["runs"], plot, level, eval_n)
    record(res)
    if json_out:
        print_json(res)


@experiment("plasticity-figures")
def plasticity_figures(
    out: Path = typer.Option(None, help="folder for the JSON results (default: calcium/results/ "
                             f"in {USER_LOCATION_HELP})", callback=output_dir),
    figures: Path = typer.Option(None, help="folder for the PNG figures (default: calcium/"
                                 f"figures/ in {USER_LOCATION_HELP}; the docs' figures: "
                                 "--figures docs/figures)", callback=output_dir),
    reps: int = typer.Option(100, help="repetitions per protocol condition"),
    correlation: bool = typer.Option(True, help="also run the correlated-spiking experiment"),
    duration_ms: float = typer.Option(2_000.0, help="correlation: simulated time per run"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """STDP / frequency / rate protocols for both rules and the correlated-spiking experiment."""
    from ..experiments.calcium_protocols import FiguresConfig, run_figures

    cfg = configure(FiguresConfig, reps=reps, correlation=correlation, duration_ms=duration_ms,
                    device=device)
    out = default_output(out, "calcium", "results")
    figures = default_output(figures, "calcium", "figures", option="--figures", name="figures")
    begin(cfg)
    summary = run_figures(cfg, out, figures, progress=not json_out)
    record(summary)
    if json_out:
        print_json(summary)
    else:
        for k, v in summary.items():
            typer.echo(f"{k}: {v}")
        typer.echo(f"results in {out}/, figures in {figures}/")
