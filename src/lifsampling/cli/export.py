"""Export commands: a mapped network as a backend-neutral (PyNN) JSON description."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ._app import app, fail, output_file, print_json

SYNAPSE_KINDS = ("renewing", "additive", "tsodyks_markram")


def _synapse(kind: str, u: float, tau_rec_ms: float, weight_scale: float):
    from ..params import SynapseParams

    if kind not in SYNAPSE_KINDS:
        fail(f"--synapses must be one of {', '.join(SYNAPSE_KINDS)}, got {kind!r}")
    if kind != "tsodyks_markram":
        return SynapseParams(kind=kind)
    if not 0 < u <= 1:
        fail(f"--stp-u must be in (0, 1], got {u}")
    if not (tau_rec_ms > 0 and math.isfinite(tau_rec_ms)):
        fail(f"--stp-tau-rec-ms must be a finite number > 0, got {tau_rec_ms}")
    if not (weight_scale > 0 and math.isfinite(weight_scale)):
        fail(f"--stp-weight-scale must be a finite number > 0, got {weight_scale}")
    return SynapseParams(kind="tsodyks_markram", U=u, tau_rec_ms=tau_rec_ms,
                         weight_scale=weight_scale)


@app.command("export-pynn")
def export_pynn(
    model: Path = typer.Argument(None, help="RBM model file (npz) from train-rbm; or give "
                                 "--bm-units for a random Boltzmann machine"),
    bm_units: int = typer.Option(None, help="units of a random Boltzmann machine (W, b uniform "
                                 "in [-1, 1], as sample-bm)"),
    seed: int = typer.Option(0, help="seed of the random Boltzmann machine"),
    calibration: str = typer.Option(None, help="calibration: a shipped preset (sbs-tutorial, "
                                    "fast-membrane) or a calibration JSON (default: "
                                    "sbs-tutorial for --bm-units, fast-membrane for a model)"),
    synapses: str = typer.Option("renewing", help="renewing, additive or tsodyks_markram"),
    stp_u: float = typer.Option(0.01, help="tsodyks_markram: utilisation U"),
    stp_tau_rec_ms: float = typer.Option(280.0, help="tsodyks_markram: recovery time (ms)"),
    stp_weight_scale: float = typer.Option(100.0, help="tsodyks_markram: weights x this "
                                           "(default 1/U, Leng et al. 2018)"),
    dt_ms: float = typer.Option(0.1, help="time step (ms); also the recurrent delay"),
    out: Path = typer.Option(..., help="write the JSON description here", callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print a summary as JSON"),
) -> None:
    """Write a mapped network as a backend-neutral JSON description in PyNN terms
    (IF_cond_exp neurons, Poisson background, recurrent projections; units named)."""
    from ..io import write_json

    if (model is None) == (bm_units is None):
        fail("give a model file or --bm-units, not both and not neither")
    if not (dt_ms > 0 and math.isfinite(dt_ms)):
        fail(f"--dt-ms must be a finite number > 0, got {dt_ms}")
    syn = _synapse(synapses, stp_u, stp_tau_rec_ms, stp_weight_scale)
    from ..export import describe
    from .core import _load_calibration

    if bm_units is not None:
        from ..experiments.small_bm import uniform_bm
        from ..mapping import bm_to_network

        if not 1 <= bm_units <= 1000:
            fail(f"--bm-units must be between 1 and 1000, got {bm_units}")
        cal = _load_calibration(calibration)
        bm = uniform_bm(bm_units, seed)
        net = bm_to_network(bm.W, bm.b, cal, synapse=syn)
        source = {"kind": "random Boltzmann machine", "units": bm_units, "seed": seed}
    else:
        from ..boltzmann.train import load_rbm
        from ..spiking_rbm import build_network

        if not model.is_file():
            fail(f"model file not found: {model}")
        cal = _load_calibration(calibration, default="fast-membrane")
        rbm, _ = load_rbm(model)
        net = build_network(rbm, cal, synapse=syn)
        source = {"kind": "RBM model file", "path": str(model), "n_visible": rbm.n_visible,
                  "n_hidden": rbm.n_hidden}
    desc = describe(net, dt_ms)
    desc["source"] = {**source, "calibration": {"u0_mV": cal.u0_mV, "alpha_mV": cal.alpha_mV}}
    write_json(out, desc)
    summary = {"out": str(out), "neurons": net.n, "sources": len(desc["sources"]),
               "connections": sum(len(p["connections"]) for p in desc["projections"]),
               "synapse": desc["projections"][0]["synapse"]["model"] if desc["projections"]
               else None, "timestep_ms": dt_ms}
    if json_out:
        print_json(summary)
    else:
        typer.echo(f"wrote {out}: {summary['neurons']} neurons, {summary['connections']} "
                   "recurrent connections")
