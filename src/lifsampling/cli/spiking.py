"""Fidelity and in-the-loop training of the spiking MNIST RBM: fidelity, train-spiking."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _rbm
from ._app import compute, configure, fail, output_file, parse_floats, print_json
from ._rbm import CAL_OPT, DATA_OPT, DEV_OPT, MODEL_ARG, THR_OPT
from ._run import begin, experiment, output, record


@experiment("fidelity")
def fidelity_cmd(
    model: Path = MODEL_ARG,
    calibration: str = CAL_OPT,
    data: str = DATA_OPT,
    images: int = typer.Option(200, "--images", help="test images clamped (one chain each)"),
    duration_ms: float = typer.Option(1000.0, "--duration-ms",
                                      help="read-out time per clamped state (ms)"),
    burn_in_ms: float = typer.Option(50.0, "--burn-in-ms", help=">= tau_ref (ms)"),
    seed: int = typer.Option(0, "--seed"),
    correction: Path = typer.Option(None, "--correction",
                                    help="apply this layer correction JSON"),
    fit: bool = typer.Option(False, "--fit-correction", help="first measure the per-layer "
                             "correction on pilot runs with training images, then report the "
                             "corrected network (the uncorrected one under 'uncorrected')"),
    pilot_images: int = typer.Option(200, "--pilot-images", help="training images of the fit"),
    pilot_ms: float = typer.Option(400.0, "--pilot-duration-ms", help="per pilot run (ms)"),
    iterations: int = typer.Option(3, "--iterations", help="fit iterations"),
    save_to: Path = typer.Option(None, "--save-correction", callback=output_file,
                                         help="write the fitted correction here"),
    folded: bool = typer.Option(True, "--folded/--no-folded",
                                help="also measure the folded-leak variant"),
    stagger: bool = typer.Option(True, "--stagger/--no-stagger",
                                 help="clamped neurons start at random phases"),
    phases: int = typer.Option(8, "--phases", help="independent runs per clamped state, each "
                               "with its own clamp phases, sharing --duration-ms (>= 2)"),
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    out: Path = typer.Option(None, "--out", help="write the result JSON here",
                             callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Exact fidelity: clamped conditionals of the spiking network against the RBM's.

    Prints hidden_rms, hidden_max, hidden_gain, hidden_offset and the same for visible_
    (probabilities; gain/offset of the measured logit on the exact one), the sampling-noise
    floor of each RMS, and the folded-leak variant (folded_*).
    """
    from ..experiments.spiking_fidelity import FidelityConfig, run_fidelity
    from ..fidelity import load_correction, save_correction
    from ..io import write_json

    compute(threads, device)
    cfg = configure(FidelityConfig, {"pilot_duration_ms": "--pilot-duration-ms",
                                     "fit": "--fit-correction", "correction_file": "--correction"},
                    data=data, images=images, duration_ms=duration_ms, burn_in_ms=burn_in_ms,
                    seed=seed, device=device, stagger=stagger, phases=phases, folded=folded,
                    fit=fit,
                    pilot_images=pilot_images, pilot_duration_ms=pilot_ms,
                    iterations=iterations,
                    correction_file=None if correction is None else str(correction))
    if save_to is not None and not fit:
        fail("--save-correction needs --fit-correction")
    corr = load_correction(correction) if correction is not None else None
    rbm, _ = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    begin(cfg)
    res, corr = run_fidelity(rbm, cal, cfg, correction=corr)
    res["model"] = str(model)
    if fit and save_to is not None:
        save_correction(save_to, corr, model=str(model), pilot_images=res["fit"]["pilot_images"],
                        pilot_duration_ms=pilot_ms, iterations=iterations)
    if out:
        write_json(out, res)
    record(res)
    if json_out:
        print_json(res)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"clamped-conditional fidelity ({res['images']} test images, "
                    f"{duration_ms:g} ms as {res['phases']} clamp-phase runs)")
    for col in ("layer", "RMS", "noise floor", "max", "logit gain", "logit offset"):
        t.add_column(col)
    for name in ("hidden", "visible", "folded_hidden", "folded_visible"):
        if f"{name}_rms" in res:
            t.add_row(name, *(f"{res[f'{name}_{k}']:.4f}" for k in
                              ("rms", "rms_noise", "max", "gain", "offset")))
    Console().print(t)


@experiment("train-spiking")
def train_spiking_cmd(
    model: Path = typer.Argument(..., help="classification RBM to fine-tune (npz)"),
    epochs: int = typer.Option(1, "--epochs", help="passes over the training images"),
    out: Path = typer.Option(..., "--out", callback=output_file,
                             help="fine-tuned model (npz); its checkpoint is OUT.checkpoint.npz"),
    stp: bool = typer.Option(False, "--stp", help="Tsodyks-Markram synapses (renormalised)"),
    stp_U: float = typer.Option(0.1, "--stp-U", help="with --stp: utilisation U_SE in (0, 1]"),
    stp_tau_rec_ms: float = typer.Option(280.0, "--stp-tau-rec-ms",
                                         help="with --stp: recovery time constant (ms)"),
    chains: int = typer.Option(16, "--chains", help="persistent spiking chains"),
    batch_size: int = typer.Option(100, "--batch-size", help="training images per update"),
    samples: int = typer.Option(1, "--samples-per-update",
                                help="negative-phase samples per chain per update (10 ms apart)"),
    continue_state: bool = typer.Option(
        True, "--continue-state/--reimpose", help="negative chains continue from their full "
        "network state across updates, or restart from their binary states imposed for tau_ref"),
    free_ms: float = typer.Option(None, "--free-ms", help="unread free running at the start of "
                                  "each negative phase (ms) [default: 10 with --continue-state, "
                                  "50 with --reimpose]"),
    learning_rate: float = typer.Option(0.001, "--learning-rate"),
    discriminative: float = typer.Option(
        0.0, "--discriminative-weight", help="alpha: add alpha x the exact gradient of "
        "log p(label | pixels) to every update (hybrid training, Larochelle & Bengio 2008), "
        "to keep the classification while the spiking gradient reshapes the weights"),
    final_lr: float = typer.Option(0.1, "--final-lr-fraction",
                                   help="learning rate at the end / at the start (linear decay)"),
    images_per_epoch: int = typer.Option(0, "--images-per-epoch", help="0: all"),
    class_weights: str = typer.Option(
        None, "--class-weights", help="train on class-imbalanced data: 10 comma-separated "
        "relative class frequencies, e.g. 1,1,1,1,1,0.1,0.1,0.1,0.1,0.1 (digits 5-9 at 10 %); "
        "the proportions are written into OUT's header (for stp-imbalance --model)"),
    validation: int = typer.Option(500, "--validation", help="held-out training images "
                                   "classified by the spiking network after every epoch"),
    max_drop: float = typer.Option(1.0, "--max-accuracy-drop", help="stop when the spiking "
                                   "validation accuracy falls more than this (pp) below its "
                                   "start; the last epoch within it is kept"),
    resume: bool = typer.Option(False, "--resume", help="continue from OUT.checkpoint.npz"),
    correction: Path = typer.Option(None, "--correction", help="layer correction JSON"),
    calibration: str = CAL_OPT,
    data: str = DATA_OPT,
    seed: int = typer.Option(0, "--seed"),
    device: str = DEV_OPT,
    threads: int = THR_OPT,
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Fine-tune W and b in the loop of the spiking network (negative phase from persistent
    free-running spiking chains), with a checkpoint after every epoch and --resume."""
    import numpy as np
    import torch

    from ..boltzmann.train import save_rbm
    from ..datasets import binarize, class_proportions, imbalance, load_mnist, with_labels
    from ..fidelity import load_correction
    from ..io import write_json
    from ..spiking_rbm import classify
    from ..spiking_training import SpikingTrainingConfig, train_spiking

    compute(threads, device)
    if images_per_epoch < 0 or validation < 0 or max_drop < 0:
        fail("--images-per-epoch, --validation and --max-accuracy-drop must be >= 0")
    weights = None
    if class_weights is not None:
        weights = parse_floats(class_weights, "--class-weights")
        if len(weights) != 10 or min(weights) < 0 or max(weights) <= 0:
            fail("--class-weights needs 10 non-negative numbers, not all 0, got "
                 f"{class_weights!r}")
    cfg = configure(SpikingTrainingConfig, {
        "sample_every_ms": "sample_every_ms", "learning_rate": "--learning-rate",
        "free_ms": "--free-ms", "final_lr_fraction": "--final-lr-fraction",
        "discriminative_weight": "--discriminative-weight", "stp_U": "--stp-U",
        "stp_tau_rec_ms": "--stp-tau-rec-ms"},
        epochs=epochs, batch_size=batch_size, chains=chains, samples_per_update=samples,
        learning_rate=learning_rate, free_ms=free_ms, final_lr_fraction=final_lr, stp=stp,
        discriminative_weight=discriminative, stp_U=stp_U, stp_tau_rec_ms=stp_tau_rec_ms,
        continue_state=continue_state,
        seed=seed, images_per_epoch=images_per_epoch or None).resolved()
    ckpt = out.with_name(out.name + ".checkpoint.npz")
    if resume and not ckpt.is_file():
        fail(f"no checkpoint to resume from: {ckpt}")
    corr = load_correction(correction) if correction is not None else None
    rbm, header = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    ds = load_mnist(data, download=False)
    n_val = min(validation, len(ds.y_train) // 2)
    x = binarize(ds.x_train)
    xt, yt = x[: len(x) - n_val], ds.y_train[: len(x) - n_val]
    xv, yv = x[len(x) - n_val:], ds.y_train[len(x) - n_val:]
    data_header = {"source": ds.provenance.get("source")}
    if weights is not None:  # the held-out validation images stay as they are
        xt, yt = imbalance(xt, yt, weights, seed=seed)
        data_header.update(class_weights=list(weights),
                           class_proportions=class_proportions(yt).tolist(),
                           n_train=int(len(yt)))
    train = with_labels(xt, yt)

    def accuracy(r) -> float:
        if n_val == 0:
            return float("nan")
        res = classify(r, cal, xv, duration_ms=100.0, seed=seed, device=device)
        return res.accuracy(yv)

    begin(cfg, checkpoint=ckpt if resume else None)
    start_acc = accuracy(rbm)
    kept = {"epoch": 0}

    def on_epoch(state) -> dict:
        r = state.rbm(rbm.n_labels)
        acc = accuracy(r)
        rbm_acc = float((r.classify(torch.from_numpy(xv).double()).numpy() == yv).mean()) \
            if n_val else float("nan")
        stop = bool(n_val) and 100 * (start_acc - acc) > max_drop
        if not stop:
            save_rbm(out, r, hyperparameters={**cfg.__dict__, "trained_in_the_loop": True},
                     data=data_header, history=state.history + [{"epoch": state.epoch}],
                     extra={"fine_tuned_from": str(model), "base_header": header})
            kept["epoch"] = state.epoch
        return {"validation_spiking_accuracy": acc, "validation_rbm_accuracy": rbm_acc,
                "stop": stop}

    _, state = train_spiking(rbm, cal, train, cfg, checkpoint=ckpt, resume=resume,
                             correction=corr, device=device, on_epoch=on_epoch,
                             progress=not json_out)
    res = {"model": str(model), "out": str(out), "checkpoint": str(ckpt),
           "epochs_done": state.epoch, "kept_epoch": kept["epoch"],
           "start_validation_spiking_accuracy": start_acc, "validation_images": n_val,
           "history": state.history, "config": cfg.__dict__,
           "wall_s_per_epoch": float(np.mean([h["wall_s"] for h in state.history]))
           if state.history else None}
    if kept["epoch"] == 0 and not out.exists():
        fail("the first epoch already lowered the validation accuracy by more than "
             f"{max_drop} pp; nothing was written (lower --learning-rate)")
    write_json(out.with_name(out.name + ".json"), res)
    output("summary", out.with_name(out.name + ".json"))
    record(res)
    if json_out:
        print_json(res)
    else:
        last = state.history[-1] if state.history else {}
        typer.echo(f"{state.epoch} epochs, kept epoch {kept['epoch']} -> {out}; validation "
                   f"spiking accuracy {start_acc:.4f} -> "
                   f"{last.get('validation_spiking_accuracy', float('nan')):.4f}")
