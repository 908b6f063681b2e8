"""Fidelity and in-the-loop training of the spiking MNIST RBM: fidelity, train-spiking."""

from __future__ import annotations

from pathlib import Path

import typer

from . import _rbm
from ._app import app, fail, output_file, print_json
from ._rbm import CAL_OPT, DEV_OPT, THR_OPT


@app.command("fidelity")
def fidelity_cmd(
    model: Path = typer.Argument(..., help="classification RBM (npz from train-rbm)"),
    calibration: str = CAL_OPT,
    data: str = typer.Option("auto", "--data", help="auto, builtin, mnist or a directory"),
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
    from ..datasets import binarize, load_mnist
    from ..fidelity import fit_corrections, load_correction, measure_fidelity, save_correction
    from ..io import write_json

    _rbm.setup(threads, device)
    if images < 2 or pilot_images < 2:
        fail("--images and --pilot-images must be >= 2")
    if not duration_ms > 0 or not pilot_ms > 0 or burn_in_ms < 0 or iterations < 1:
        fail("need --duration-ms > 0, --pilot-duration-ms > 0, --burn-in-ms >= 0, "
             "--iterations >= 1")
    if fit and correction is not None:
        fail("use either --correction or --fit-correction")
    if save_to is not None and not fit:
        fail("--save-correction needs --fit-correction")
    corr = load_correction(correction) if correction is not None else None
    rbm, _ = _rbm.mnist_model(model)
    cal = _rbm.calibration(calibration)
    ds = load_mnist(data, download=False)
    n = min(images, len(ds.y_test))
    x, y = binarize(ds.x_test[:n]), ds.y_test[:n]
    kw = dict(duration_ms=duration_ms, burn_in_ms=burn_in_ms, seed=seed, device=device,
              stagger=stagger)
    res: dict = {}
    if fit:
        m = min(pilot_images, len(ds.y_train))
        before = measure_fidelity(rbm, cal, x, y, folded=folded, **kw)
        corr, history = fit_corrections(rbm, cal, binarize(ds.x_train[:m]), ds.y_train[:m],
                                        iterations=iterations, duration_ms=pilot_ms,
                                        burn_in_ms=burn_in_ms, seed=seed + 1000,
                                        device=device, stagger=stagger)
        res["uncorrected"] = before.summary()
        res["fit"] = {"pilot_images": m, "pilot_duration_ms": pilot_ms,
                      "iterations": iterations, "history": history}
        if save_to is not None:
            save_correction(save_to, corr, model=str(model), pilot_images=m,
                            pilot_duration_ms=pilot_ms, iterations=iterations)
    rep = measure_fidelity(rbm, cal, x, y, correction=corr, folded=folded and not fit, **kw)
    res = {**rep.to_dict(), **res, "model": str(model), "data_source":
           ds.provenance.get("source"), "correction": None if corr is None else corr.to_dict()}
    if fit and folded:  # the folded variant has no synapses: the correction leaves it alone
        res.update({k: v for k, v in res["uncorrected"].items() if k.startswith("folded_")})
    if out:
        write_json(out, res)
    if json_out:
        print_json(res)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"clamped-conditional fidelity ({n} test images, {duration_ms:g} ms)")
    for col in ("layer", "RMS", "noise floor", "max", "logit gain", "logit offset"):
        t.add_column(col)
    for name in ("hidden", "visible", "folded_hidden", "folded_visible"):
        if f"{name}_rms" in res:
            t.add_row(name, *(f"{res[f'{name}_{k}']:.4f}" for k in
                              ("rms", "rms_noise", "max", "gain", "offset")))
    Console().print(t)
