"""STP commands: classify-spiking, stp-mixing, stp-sweep, stp-imbalance (docs/stp.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _rbm
from ._app import (
    USER_LOCATION_HELP,
    compute,
    configure,
    fail,
    note,
    output_dir,
    output_file,
    parse_floats,
    print_json,
    user_location,
)
from ._rbm import CAL_OPT, DATA_OPT, DEV_OPT, MODEL_ARG, THR_OPT
from ._run import begin, default_output, experiment, output, record

# config fields whose option is not --field-name
_OPTIONS = {"n_samples": "--samples", "U_values": "--U", "tau_values": "--tau-rec-ms",
            "correction_file": "--correction", "train_seed": "--seed"}


@experiment("classify-spiking")
def classify_spiking_cmd(
    model: Path = MODEL_ARG,
    calibration: str = CAL_OPT,
    data: str = DATA_OPT,
    n_test: int = typer.Option(0, "--n-test", help="first N test images (0: all)"),
    duration_ms: float = typer.Option(100.0, "--duration-ms", help="read-out time per image"),
    burn_in_ms: float = typer.Option(20.0, "--burn-in-ms"),
    batch_size: int = typer.Option(500, "--batch-size", help="images simulated together"),
    seed: int = typer.Option(0, "--seed"),
    clamp: str = typer.Option("folded", "--clamp", help="folded (pixels folded into the hidden "
                              "leaks) or spiking (pixel neurons clamped by spiking)"),
    correction: Path = typer.Option(None, "--correction", help="layer correction JSON from "
                                    "`lifsampling fidelity --save-correction` (spiking clamp)"),
    phases: int = typer.Option(1, "--phases", help="independent runs per image, each with its "
                               "own clamp phases, sharing --duration-ms"),
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    out: Path = typer.Option(None, "--out", help="write the result JSON here",
                             callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Classify MNIST test images with the spiking network (image clamped, labels read out)."""
    from ..experiments.stp_classify import ClassifyConfig, run_classification
    from ..fidelity import load_correction
    from ..io import write_json

    compute(threads, device)
    cfg = configure(ClassifyConfig, _OPTIONS, data=data,
                    n_test=None if n_test == 0 else n_test, duration_ms=duration_ms,
                    burn_in_ms=burn_in_ms, batch_size=batch_size, seed=seed, device=device,
                    clamp=clamp, correction_file=None if correction is None else str(correction),
                    phases=phases)
    corr = load_correction(correction) if correction is not None else None
    rbm, _ = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    begin(cfg)
    res = run_classification(rbm, cal, cfg, progress=not json_out, correction=corr)
    if corr is not None:
        res["correction"] = str(correction)
    res["model"] = str(model)
    if out:
        write_json(out, res)
    record(res)
    if json_out:
        print_json(res)
    else:
        typer.echo(f"spiking accuracy {res['accuracy']:.4f}, RBM {res['rbm_accuracy']:.4f} "
                   f"({res['n_test']} test images)")


SEEDS_OPT = typer.Option("0", "--seeds", help="comma-separated seeds, or N for 0..N-1 "
                         "(>= 10 for a headline)")


def _seeds(text: str) -> tuple[int, ...]:
    text = text.strip()
    if text.isdigit() and "," not in text and int(text) > 1:
        return tuple(range(int(text)))
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"--seeds must be a count or a comma-separated list of integers, got {text!r}")
    if not seeds:
        fail("--seeds is empty")
    return seeds


def _names(text: str) -> tuple[str, ...]:
    """The sampler names of a comma-separated ``--samplers`` (checked by the config)."""
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _log_row(json_out: bool):
    def log(seed, name, budget, st):  # progress on stderr, also with --json
        typer.echo(f"seed {seed} {name} ({budget}): mode switches/1000 "
                   f"{st['mode_switches_per_1000']:.2f}, precision {st['precision']:.3f}, "
                   f"recall {st['recall']:.3f}, FD {st['fd']:.1f}, mean pixel "
                   f"{st['mean_pixel']:.3f}, wall {st['wall_s']:.1f} s", err=True)
    return log


@experiment("stp-mixing")
def stp_mixing_cmd(
    model: Path = MODEL_ARG,
    calibration: str = CAL_OPT,
    samples: int = typer.Option(1000, "--samples", help="samples per chain after burn-in"),
    chains: int = typer.Option(4, "--chains"),
    U: float = typer.Option(0.1, "--U", help="STP utilisation U_SE"),
    tau_rec_ms: float = typer.Option(280.0, "--tau-rec-ms", help="STP recovery time (ms)"),
    samplers: str = typer.Option("stp,lif,gibbs,ast,pt", "--samplers"),
    pilot_ms: float = typer.Option(1000.0, "--pilot-ms", help="pilot run for renormalising"),
    seeds: str = SEEDS_OPT,
    equal_time: bool = typer.Option(True, "--equal-time/--no-equal-time",
                                    help="also compare at the STP run's wall time"),
    correction: Path = typer.Option(None, "--correction", help="layer correction JSON from "
                                    "`lifsampling fidelity --save-correction` (spiking samplers)"),
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    out: Path = typer.Option(None, "--out", help="folder for results (default: stp/mixing/ in "
                             f"{USER_LOCATION_HELP})", callback=output_dir),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """LIF+STP, LIF, Gibbs, AST and PT on one RBM: quality and mixing at equal samples and
    equal wall time, mean and 95 % interval over seeds."""
    from ..experiments.stp_mixing import MixingConfig, run_mixing, summary
    from ..fidelity import load_correction

    compute(threads, device)
    cfg = configure(MixingConfig, _OPTIONS, samplers=_names(samplers), n_samples=samples,
                    chains=chains, U=U, tau_rec_ms=tau_rec_ms, pilot_ms=pilot_ms,
                    seeds=_seeds(seeds), device=device, equal_time=equal_time)
    corr = load_correction(correction) if correction is not None else None
    rbm, _ = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    out = default_output(out, "stp", "mixing")
    begin(cfg)
    res = run_mixing(rbm, cal, cfg, out_dir=out, log=_log_row(json_out),
                     progress=not json_out, correction=corr)
    result = {"model": str(model), "config": res["config"],
              "equal_samples": summary(res, "equal_samples"),
              "equal_time": summary(res, "equal_time"), "out": str(out)}
    record(result)
    if json_out:
        print_json(result)
    else:
        typer.echo(f"results and figures in {out}/")


@experiment("stp-sweep")
def stp_sweep_cmd(
    model: Path = MODEL_ARG,
    calibration: str = CAL_OPT,
    U_values: str = typer.Option("0.01,0.03,0.1,0.3", "--U", help="comma-separated U_SE"),
    tau_values: str = typer.Option("50,280,1000", "--tau-rec-ms", help="comma-separated ms"),
    samples: int = typer.Option(300, "--samples"),
    chains: int = typer.Option(4, "--chains"),
    pilot_ms: float = typer.Option(500.0, "--pilot-ms"),
    seed: int = typer.Option(None, "--seed", help="one seed (the same as --seeds SEED)"),
    seeds: str = typer.Option("0", "--seeds", help="comma-separated seeds, or N for 0..N-1; "
                              "every cell is the mean over them with a 95 % interval"),
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    out: Path = typer.Option(None, "--out", callback=output_dir, help="folder for results "
                             f"(default: stp/sweep/ in {USER_LOCATION_HELP})"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Sweep U_SE x tau_rec over seeds: k-NN precision, mode switches and mean pixel as heat
    maps (means over the seeds)."""
    from ..experiments.stp_sweep import STPSweepConfig, run_sweep

    compute(threads, device)
    if seed is not None and seeds != "0":
        fail("give --seed or --seeds, not both")
    cfg = configure(STPSweepConfig, _OPTIONS, U_values=parse_floats(U_values, "--U"),
                    tau_values=parse_floats(tau_values, "--tau-rec-ms"), n_samples=samples,
                    chains=chains, pilot_ms=pilot_ms, device=device,
                    seeds=(seed,) if seed is not None else _seeds(seeds))
    rbm, _ = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    out = default_output(out, "stp", "sweep")
    begin(cfg)
    res = run_sweep(rbm, cal, cfg, out_dir=out, log=None if json_out else lambda r: typer.echo(
        f"U {r['U']:g}, tau_rec {r['tau_rec_ms']:g} ms: precision {r['precision']:.3f}, "
        f"mode switches {r['mode_switches_per_1000']:.1f}/1000, mean pixel "
        f"{r['mean_pixel']:.3f} ({r['seeds']} seeds)", err=True))
    record(res)
    if json_out:
        print_json(res)
    else:
        typer.echo(f"results and heat maps in {out}/")


@experiment("stp-imbalance")
def stp_imbalance_cmd(
    model: Path = typer.Option(None, "--model", help="imbalanced RBM; trained (digits 5-9 at "
                               "10%) and written there if missing (default: models/"
                               f"rbm_mnist_500_imbalanced.npz in {USER_LOCATION_HELP})"),
    calibration: str = CAL_OPT,
    samples: int = typer.Option(500, "--samples"),
    chains: int = typer.Option(4, "--chains"),
    U: float = typer.Option(0.1, "--U"),
    tau_rec_ms: float = typer.Option(280.0, "--tau-rec-ms"),
    samplers: str = typer.Option("stp,gibbs,ast", "--samplers"),
    epochs: int = typer.Option(5, "--epochs", help="training epochs if the model is trained"),
    seed: int = typer.Option(0, "--seed", help="training seed of the model"),
    seeds: str = SEEDS_OPT,
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    out: Path = typer.Option(None, "--out", callback=output_dir, help="folder for results "
                             f"(default: stp/imbalance/ in {USER_LOCATION_HELP})"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """TV distance of the class histogram to the training proportions (and the other
    statistics) of STP, Gibbs and AST on an imbalanced-data RBM, over seeds."""
    from ..experiments.stp_imbalance import ImbalanceConfig, run_imbalance, train_imbalanced
    from ..experiments.stp_mixing import summary

    compute(threads, device)
    cfg = configure(ImbalanceConfig, _OPTIONS, n_samples=samples, chains=chains, U=U,
                    tau_rec_ms=tau_rec_ms, samplers=_names(samplers), seeds=_seeds(seeds),
                    device=device, epochs=epochs, train_seed=seed)
    cal = _rbm.calibration(calibration)
    if model is None:
        model = user_location("models", "rbm_mnist_500_imbalanced.npz")
        if model.is_file():
            note(f"--model not given: used {model}")
        else:
            model = default_output(None, "models", "rbm_mnist_500_imbalanced.npz",
                                   kind="file", option="--model", name="model")
    out = default_output(out, "stp", "imbalance")
    begin(cfg, model=model)
    output("model", model)  # copied when this run trains it
    rbm, props = train_imbalanced(model, epochs=cfg.epochs, seed=cfg.train_seed)
    res = run_imbalance(rbm, props, cal, cfg, out_dir=out, log=_log_row(json_out),
                        progress=not json_out)
    result = {"config": res["config"], "equal_samples": summary(res, "equal_samples"),
              "equal_time": summary(res, "equal_time"),
              "class_histogram_vs_training": res["class_histogram_vs_training"]}
    record(result)
    if json_out:
        print_json(result)
    else:
        for name, d in res["class_histogram_vs_training"]["equal_samples"].items():
            tv = d["tv"]
            typer.echo(f"{name}: TV {tv['mean']:.3f} (95 % {tv['ci95']})")
        typer.echo(f"results and figures in {out}/ (model {model})")
