"""High-conductance-state theory commands: ``hcs-compare``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import compute, configure, fail, output_file, parse_floats, print_json
from ._run import begin, experiment, record

# config fields whose option is not --field-name
_OPTIONS = {"weights_nS": "--weights-ns", "e_leak_range_mV": "--low-mv/--high-mv",
            "theory": "--theory-plot", "curves": "--curves", "kl": "--kl"}


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

    from ..experiments.hcs_compare import (
        HCSCompareConfig,
        kl_comparison,
        plot_comparison,
        run_grid,
    )
    from ..io import write_json

    if (low_mV is None) != (high_mV is None):
        fail("give both --low-mv and --high-mv, or neither")
    cfg = configure(HCSCompareConfig, _OPTIONS, rates_hz=parse_floats(rates_hz, "--rates-hz"),
                    weights_nS=parse_floats(weights_ns, "--weights-ns"),
                    ratios=parse_floats(ratios, "--ratios"), tau_syn_ms=tau_syn_ms,
                    low_conductance=low_conductance, points=points, duration_ms=duration_ms,
                    chains=chains, e_leak_range_mV=None if low_mV is None else (low_mV, high_mV),
                    dt_ms=dt_ms, seed=seed, curves=curves, theory=theory_plot is not None,
                    kl=kl, kl_machines=kl_machines, kl_duration_ms=kl_duration_ms)
    compute(1)
    kl_cal = None
    if cfg.kl:
        from .core import _load_calibration

        kl_cal = _load_calibration(kl_calibration)
    begin(cfg)
    results = []
    if cfg.curves:
        results = run_grid(cfg.curve_configs(), points=cfg.points, duration_ms=cfg.duration_ms,
                           chains=cfg.chains, dt_ms=cfg.dt_ms, seed=cfg.seed,
                           e_leak_range_mV=cfg.e_leak_range_mV, progress=not json_out)
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
                                        dt_ms=cfg.dt_ms)
    if cfg.kl:
        summary["kl"] = kl_comparison(kl_cal, machines=cfg.kl_machines,
                                      duration_ms=cfg.kl_duration_ms, seed=cfg.seed,
                                      dt_ms=cfg.dt_ms)
    if out is not None:
        write_json(out, {**summary, "results": results})
    record(summary)
    if json_out:
        print_json(summary)
    else:
        for r in results:
            typer.echo(f"{r['name']:<60s} max|p_th - p_sim| = {r['max_abs_error']:.4f} "
                       f"(max SE {r['max_sim_se']:.4f})")
