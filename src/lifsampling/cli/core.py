"""Core commands: calibrate, sample-bm, version."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import app, configure, output_file, print_json
from ._run import begin, experiment, record


def _check_device(device: str) -> None:
    from ..engine import resolve_device

    resolve_device(device)  # raises ValueError with the allowed values


CALIBRATION_HELP = ("calibration: a shipped preset (sbs-tutorial, fast-membrane) or the path of "
                    "a calibration JSON")


def _load_calibration(name_or_path: str | None, default: str = "sbs-tutorial"):
    """The calibration an option names (``lifsampling.calibration.load_calibration``)."""
    from ..calibration import load_calibration

    return load_calibration(default if name_or_path is None else name_or_path)


@app.command()
def version() -> None:
    """Print the package version."""
    from .. import __version__

    typer.echo(__version__)


@experiment("calibrate")
def calibrate(
    preset: str = typer.Option("sbs", help="neuron + background preset: sbs or leng2018"),
    rate_hz: float = typer.Option(None, help="override: exc = inh background rate (Hz)"),
    points: int = typer.Option(36, help="leak potentials on the sweep"),
    duration_ms: float = typer.Option(10_000.0, help="biological time per point and chain (ms)"),
    chains: int = typer.Option(4, help="independent runs per point"),
    low_mv: float = typer.Option(None, help="sweep start (mV); default: found automatically"),
    high_mv: float = typer.Option(None, help="sweep end (mV)"),
    couplings: bool = typer.Option(False, help="also measure the exc/inh weight scales"),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    out: Path = typer.Option(None, help="write the calibration JSON here",
                             callback=output_file),
    plot: Path = typer.Option(None, help="write the activation-function plot (PNG) here",
                              callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Measure the activation function p(z=1) vs the leak potential and fit a logistic."""
    from ..experiments.calibrate_neuron import CalibrateConfig
    from ..experiments.calibrate_neuron import run as run_calibration

    cfg = configure(CalibrateConfig, {"low_mV": "--low-mv", "high_mV": "--high-mv"},
                    preset=preset, rate_hz=rate_hz, points=points, duration_ms=duration_ms,
                    chains=chains, low_mV=low_mv, high_mV=high_mv, couplings=couplings,
                    seed=seed, device=device)
    _check_device(device)
    begin(cfg.describe())
    cal = run_calibration(cfg)
    if out is not None:
        cal.save(out)
    if plot is not None:
        from ..plots import plot_activation

        plot_activation(cal, plot)
    result = {"u0": cal.u0_mV, "alpha": cal.alpha_mV, "max_residual": cal.max_residual,
              "rms_residual": cal.rms_residual, "points": points,
              "e_leak_range_mV": [cal.e_leak_mV[0], cal.e_leak_mV[-1]],
              "weight_scale_exc": cal.weight_scale_exc, "weight_scale_inh": cal.weight_scale_inh,
              "units": {"u0": "mV", "alpha": "mV"}}
    record(result)
    if json_out:
        print_json(result)
    else:
        typer.echo(f"u0 = {cal.u0_mV:.3f} mV, alpha = {cal.alpha_mV:.3f} mV, "
                   f"max |residual| = {cal.max_residual:.4f}")


@experiment("sample-bm")
def sample_bm(
    units: int = typer.Option(5, help="units of each random Boltzmann machine"),
    seed: int = typer.Option(0, help="seed of the (first) machine and of the sampling"),
    machines: int = typer.Option(1, help="number of machines (seeds seed, seed+1, ...)"),
    duration_ms: float = typer.Option(100_000.0, help="biological sampling time per machine"),
    chains: int = typer.Option(10, help="chains the duration is split over"),
    calibration: str = typer.Option(None, help=f"{CALIBRATION_HELP} (default: sbs-tutorial)"),
    synapses: str = typer.Option("renewing", help="renewing or additive"),
    correction: str = typer.Option(
        "full", help="mapping correction: none (sbs theory), couplings (weight scales measured "
        "on 2-unit machines), biases (self-consistent biases from pilot runs), full (both)"),
    pilot_ms: float = typer.Option(None, help="biological time of each pilot run of the bias "
                                   "correction (default: --duration-ms)"),
    pilot_iterations: int = typer.Option(2, help="pilot runs of the bias correction"),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    simulator: str = typer.Option("engine", help="engine (ours), or nest: sample through the "
                                  "PyNN export (pip install 'lifsampling[nest]')"),
    plot: Path = typer.Option(None, help="write D_KL vs sampling time (PNG) here",
                              callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Sample random Boltzmann machines (W, b uniform in [-1, 1]) with LIF neurons and Gibbs,
    and compare both with the exact distribution."""
    from ..experiments.small_bm import SmallBMConfig, plot_kl_curves, run_small_bms

    cfg = configure(SmallBMConfig, units=units, machines=machines, duration_ms=duration_ms,
                    chains=chains, synapses=synapses, seed=seed, device=device,
                    correction=correction, pilot_ms=pilot_ms, pilot_iterations=pilot_iterations,
                    simulator=simulator)
    _check_device(device)
    cal = _load_calibration(calibration)
    begin(cfg)
    res = run_small_bms(cfg.random_machines(), cal, cfg, progress=not json_out)
    if plot is not None:
        plot_kl_curves(res, plot)
    s = res.summary()
    out = {**s, "kl_lif": s["kl_lif"]["median"], "kl_gibbs": s["kl_gibbs"]["median"],
           "kl_lif_stats": s["kl_lif"], "kl_gibbs_stats": s["kl_gibbs"]}
    out.update(units=units, seed=seed, duration_ms=duration_ms, chains=chains,
               simulator=simulator,
               pilot_ms=pilot_ms or duration_ms if correction in ("biases", "full") else None,
               pilot_iterations=pilot_iterations)
    record(out)
    if json_out:
        print_json(out)
    else:
        typer.echo(f"D_KL LIF {out['kl_lif']:.4f}  Gibbs {out['kl_gibbs']:.4f}  "
                   f"max marginal error {out['marginals_max_err']:.3f}")
