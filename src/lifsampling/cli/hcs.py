"""High-conductance-state theory commands: ``hcs-compare``."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from ._app import compute, fail, output_file, parse_floats, print_json
from ._run import begin, experiment, record


@experiment("hcs-compare")
def hcs_compare(
    rates_hz: str = typer.Option("1000,3000,10000", help="background rates, exc = inh (Hz)"),
    weights_ns: str = typer.Option("1,2", help="noise conductance jumps, exc = inh (nS)"),
    ratios: str = typer.Option("1,2", help="tau_syn/tau_ref ratios (tau_ref = tau_syn/ratio)"),
    tau_syn_ms: float = typer.Option(10.0, help="synaptic time constant, exc = inh (ms)"),
    low_conductance: bool = typer.Option(True, help="add tau_m = 10 ms curves at 1 nS"),
    points: int = typer.Option(25, help="leak potentials per curve"),
    duration_ms: float = typer.Option(20_000.0, help="biological time per point and chain (ms)"),
    chains: int = typer.Option(64, help="independent runs per point (>= 2, for the SE)"),
    low_mV: float = typer.Option(None, "--low-mv",
                                 help="leak range start (mV); default: mu = V_th - 4 sigma"),
    high_mV: float = typer.Option(None, "--high-mv",
                                  help="leak range end (mV); default: mu = V_th + 3 sigma"),
    dt_ms: float = typer.Option(0.1, help="simulation time step (ms)"),
    seed: int = typer.Option(0),
    kl: bool = typer.Option(False, help="also: D_KL on 5-unit BMs, theory vs shipped calibration"),
    curves: bool = typer.Option(True, help="simulate the curves (--no-curves: --kl only)"),
    kl_machines: int = typer.Option(10, help="machines for --kl"),
    kl_calibration: str = typer.Option(None, help="simulated calibration for --kl: a shipped "
                                       "preset (sbs-tutorial, fast-membrane) or a calibration "
                                       "JSON path (default: sbs-tutorial)"),
    kl_duration_ms: float = typer.Option(100_000.0, help="sampling time per machine for --kl"),
    plot: Path = typer.Option(None, help="comparison plot (PNG)", callback=output_file),
    theory_plot: Path = typer.Option(None, help="also plot the theory alone (sbs neuron, 3 kHz, "
                                     "1 nS): activation, P_n, T_n (PNG)",
                                     callback=output_file),
    out: Path = typer.Option(None, help="write all curves and numbers as JSON here",
                             callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Compare the HCS theory of the activation function with simulated activation functions
    over a grid of background rates, noise weights and tau_syn/tau_ref ratios."""

    from ..experiments.hcs_compare import CurveConfig, kl_comparison, plot_comparison, run_grid
    from ..io import write_json

    rates = parse_floats(rates_hz, "--rates-hz")
    weights = parse_floats(weights_ns, "--weights-ns")
    qs = parse_floats(ratios, "--ratios")
    if any(r <= 0 for r in rates):
        fail(f"--rates-hz must all be > 0 Hz, got {rates_hz}")
    if any(w <= 0 for w in weights):
        fail(f"--weights-ns must all be > 0 nS, got {weights_ns}")
    if any(q <= 0 for q in qs):
        fail(f"--ratios must all be > 0, got {ratios}")
    if not (math.isfinite(tau_syn_ms) and tau_syn_ms > 0):
        fail(f"--tau-syn-ms must be > 0 ms, got {tau_syn_ms}")
    if points < 5:
        fail(f"--points must be >= 5, got {points}")
    if not duration_ms > 0:
        fail(f"--duration-ms must be > 0, got {duration_ms}")
    if chains < 2:
        fail(f"--chains must be >= 2 (the standard error needs them), got {chains}")
    if not dt_ms > 0:
        fail(f"--dt-ms must be > 0, got {dt_ms}")
    if (low_mV is None) != (high_mV is None):
        fail("give both --low-mv and --high-mv, or neither")
    if low_mV is not None and not low_mV < high_mV:
        fail(f"empty leak-potential range [{low_mV}, {high_mV}] mV: --low-mv must be below "
             "--high-mv")
    if kl and (kl_machines < 1 or not kl_duration_ms > 0):
        fail("--kl-machines must be >= 1 and --kl-duration-ms > 0")
    compute(1)
    configs = [CurveConfig(r, w, tau_syn_ms, tau_syn_ms / q) for q in qs for w in weights
               for r in rates]
    if low_conductance:
        configs += [CurveConfig(r, 1.0, tau_syn_ms, tau_syn_ms, 10.0) for r in rates]
    rng = None if low_mV is None else (low_mV, high_mV)
    if not (curves or kl or theory_plot):
        fail("--no-curves needs --kl or --theory-plot (nothing to do otherwise)")
    kl_cal = None
    if kl:
        from .core import _load_calibration

        kl_cal = _load_calibration(kl_calibration)
    begin({"curves": configs, "e_leak_range_mV": rng})
    results = []
    if curves:
        results = run_grid(configs, points=points, duration_ms=duration_ms, chains=chains,
                           dt_ms=dt_ms, seed=seed, e_leak_range_mV=rng, progress=not json_out)
        if plot is not None:
            plot_comparison(results, plot)
    summary = {"curves": [{k: r[k] for k in ("name", "max_abs_error", "max_abs_z",
                                             "max_sim_se", "max_abs_error_no_filtering",
                                             "tau_eff_over_tau_syn", "g_syn_over_g_leak",
                                             "fit")} for r in results],
               "max_abs_error": {r["name"]: r["max_abs_error"] for r in results},
               "plot": str(plot) if curves and plot is not None else None}
    if theory_plot is not None:
        from ..experiments.hcs_compare import plot_theory
        from ..params import SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE

        summary["theory"] = plot_theory(SBS_TUTORIAL_NEURON, SBS_TUTORIAL_NOISE, theory_plot,
                                        dt_ms=dt_ms)
    if kl:
        summary["kl"] = kl_comparison(kl_cal, machines=kl_machines,
                                      duration_ms=kl_duration_ms, seed=seed, dt_ms=dt_ms)
    if out is not None:
        write_json(out, {**summary, "results": results})
    record(summary)
    if json_out:
        print_json(summary)
    else:
        for r in results:
            typer.echo(f"{r['name']:<60s} max|p_th - p_sim| = {r['max_abs_error']:.4f} "
                       f"(max SE {r['max_sim_se']:.4f})")
