"""Oscillating background as simulated tempering: ``tempering``, ``tempering-study``,
``temperature-map``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import (
    USER_LOCATION_HELP,
    compute,
    configure,
    fail,
    output_dir,
    output_file,
    parse_floats,
    parse_seeds,
    print_json,
)
from ._run import begin, default_output, experiment, record


@experiment("tempering")
def tempering(
    model: Path = typer.Argument(..., help="classification RBM file (npz, from train-rbm)"),
    frequency_hz: float = typer.Option(..., help="oscillation frequency f (Hz, > 0)"),
    amplitude_hz: float = typer.Option(..., help="rate amplitude A (Hz), 0 < A <= mean - 100"),
    mean_hz: float = typer.Option(None, help="mean rate (Hz, exc = inh); default: 3000 + A, "
                                  "so that the read-out trough is at 3 kHz"),
    duration_ms: float = typer.Option(5000.0, help="biological time per chain (ms)"),
    chains: int = typer.Option(4, help="independent chains"),
    read_t: float = typer.Option(1.02, help="read samples where T(t) <= this (troughs)"),
    compensate: bool = typer.Option(True, help="track the drift of u0(nu(t)) in the leaks"),
    baselines: bool = typer.Option(True, help="also constant noise (same mean), Gibbs, AST"),
    init_from_data: bool = typer.Option(True, help="start all chains from training images "
                                        "(the ISL is measured on test images)"),
    calibration: str = typer.Option(None, help="calibration whose neuron, noise weights and "
                                    "coupling scales are used: a shipped preset (sbs-tutorial, "
                                    "fast-membrane) or the path of a calibration JSON "
                                    "(default: fast-membrane)"),
    temperature_map: Path = typer.Option(None, help="u0/alpha vs rate map JSON (default: HCS "
                                         "theory anchored to the calibration at its rate)"),
    grid: Path = typer.Option(None, help="write a sample grid over one cycle here (PNG)",
                              callback=output_file),
    out: Path = typer.Option(None, help="write the full result here (JSON)",
                             callback=output_file),
    seed: int = typer.Option(0),
    device: str = typer.Option("cpu", help="cpu|cuda|auto"),
    json_out: bool = typer.Option(False, "--json", help="print the numbers as JSON"),
) -> None:
    """Run the spiking RBM under a sinusoidal balanced background, read samples in the troughs
    (mapped with the trough rate's calibration) and compare mixing and quality with constant
    noise of the same mean rate, Gibbs and AST at the same budget."""
    from ..boltzmann.train import load_rbm
    from ..experiments import tempering_compare as tc
    from ..io import write_json

    cfg = configure(tc.TemperingConfig, {"read_T": "--read-t"}, frequency_hz=frequency_hz,
                    amplitude_hz=amplitude_hz, mean_hz=mean_hz, duration_ms=duration_ms,
                    chains=chains, read_T=read_t, compensate=compensate, baselines=baselines,
                    init_from_data=init_from_data, calibration=calibration,
                    temperature_map=None if temperature_map is None else str(temperature_map),
                    seed=seed, device=device)
    if not model.is_file():
        fail(f"model file {model} not found")
    compute(device=cfg.device)
    base = tc.load_calibration(cfg)
    rbm, _ = load_rbm(model)
    if rbm.n_labels == 0 or rbm.n_pixels != 784:
        fail(f"{model} is not an MNIST classification RBM (784 pixels + labels)")
    tmap = tc.temperature_map(cfg, base)
    rhythm = cfg.rhythm
    begin(cfg)
    res = tc.run(rbm, base, tmap, cfg,
                 progress=None if json_out else lambda s: typer.echo(s, err=True))
    osc = res.pop("_oscillation_run")
    if grid:
        tc.plot_grid(osc, cfg, tmap, grid)
        res["grid"] = str(grid)
    if out:
        write_json(out, res)
    record(res)
    if json_out:
        print_json(res)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"tempering: {rhythm.label()} (trough {rhythm.trough_hz / 1000:g} kHz)")
    for col in ("sampler", "samples", "conf. switches/1000", "conf. switches/s",
                "classes/chain", "ISL", "mean pixel"):
        t.add_column(col)
    for name, s in res["samplers"].items():
        per_s = s["confident_switches_per_s"]
        t.add_row(name, str(s["samples"]), f"{s['confident_switches_per_1000']:.1f}",
                  "-" if per_s is None else f"{per_s:.2f}",
                  f"{s['classes_visited_per_chain']:.1f}", f"{s['isl']:.1f}",
                  f"{s['mean_intensity']:.3f}")
    Console().print(t)


@experiment("temperature-map")
def temperature_map_cmd(
    rates_hz: str = typer.Option("500,1000,2000,3000,5000,8000,12000,20000",
                                 help="balanced background rates (Hz, exc = inh)"),
    reference_hz: float = typer.Option(3000.0, help="rate of temperature 1 (Hz)"),
    measure: bool = typer.Option(True, help="simulate (--no-measure: HCS theory only)"),
    points: int = typer.Option(25), duration_ms: float = typer.Option(10_000.0),
    chains: int = typer.Option(2), seed: int = typer.Option(0),
    plot: Path = typer.Option(None, help="alpha and T vs rate figure (PNG)",
                              callback=output_file),
    out: Path = typer.Option(None, help="write the result (JSON)", callback=output_file),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Activation slope alpha and midpoint u0 against the balanced background rate, with the
    effective temperature T = alpha(nu)/alpha(nu0) and the HCS prediction."""
    from ..experiments import tempering_rate as tr
    from ..io import write_json
    from ..temperature import theory_temperature_map

    cfg = configure(tr.TemperatureMapConfig, {"reference_rate_hz": "--reference-hz"},
                    rates_hz=parse_floats(rates_hz, "--rates-hz"), reference_rate_hz=reference_hz,
                    points=points, duration_ms=duration_ms, chains=chains, seed=seed)
    begin(cfg)
    if measure:
        res = tr.run(cfg, progress=None if json_out else lambda s: typer.echo(s, err=True))
        if plot:
            tr.plot(res, plot)
    else:
        res = {"hcs_map": theory_temperature_map(
            list(cfg.rates_hz), reference_rate_hz=cfg.reference_rate_hz).to_dict()}
    if out:
        write_json(out, res)
    record(res)
    if json_out:
        print_json(res)


def _expand_conditions(text: str, known) -> tuple[str, ...]:
    """Comma-separated names; an item with ``*``/``?``/``[`` is a shell-style pattern over the
    known names (``osc_T1.25_*``), in the registry's order. Unknown plain names are left for the
    config's validation to report."""
    from fnmatch import fnmatchcase

    out: list[str] = []
    for item in (c.strip() for c in text.split(",")):
        if not item:
            continue
        if any(ch in item for ch in "*?["):
            hits = [n for n in known if fnmatchcase(n, item)]
            if not hits:
                fail(f"--conditions: pattern {item!r} matches no condition (see --list)")
            out.extend(h for h in hits if h not in out)
        elif item not in out:
            out.append(item)
    return tuple(out)


@experiment("tempering-study")
def tempering_study_cmd(
    model: Path = typer.Option(None, "--model", help="MNIST classification RBM (npz from "
                               "train-rbm); not needed with --quick"),
    quick: bool = typer.Option(False, "--quick", help="built-in quick model and data, "
                               "T <= 1.25 @ 4 Hz vs constant noise, seeds 10-14, 4 chains x "
                               "10 s; a few minutes on 2 cores"),
    conditions: str = typer.Option(None, "--conditions", help="comma-separated condition "
                                   "names or patterns such as 'osc_T1.25_*' (see --list); "
                                   "default const_3k844,osc_T1.25_10hz,"
                                   "gibbs,ast (--quick: const_3k844,osc_T1.25_4hz)"),
    seeds: str = typer.Option(None, "--seeds", help="seeds, e.g. 0,1,2 or 100-109 (default "
                              "0-9; --quick 10-14)"),
    chains: int = typer.Option(None, "--chains", help="chains per condition and seed "
                               "(default 16; --quick 4)"),
    duration_ms: float = typer.Option(None, "--duration-ms", help="biological time per chain "
                                      "(ms; default 20000; --quick 10000)"),
    read_t: float = typer.Option(None, "--read-t", help="read samples where T(t) <= this "
                                 "(default 1.02)"),
    data: str = typer.Option(None, "--data", help="reference images: auto, builtin, mnist or a "
                             "folder (default auto; --quick builtin)"),
    calibration: str = typer.Option(None, "--calibration", help="calibration: a shipped preset "
                                    "(sbs-tutorial, fast-membrane) or the path of a "
                                    "calibration JSON (default: fast-membrane)"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto"),
    out: Path = typer.Option(None, "--out", help="folder for per-seed runs and study.json "
                             "(default: tempering/study/, --quick tempering/quick/, in "
                             f"{USER_LOCATION_HELP}); "
                             "finished per-seed files there are reused", callback=output_dir),
    plot: Path = typer.Option(None, "--plot", help="figure (PNG): heat maps over frequency x "
                              "peak temperature, or means per condition", callback=output_file),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    list_conditions: bool = typer.Option(False, "--list", help="list the conditions and exit"),
) -> None:
    """The seed-replicated tempering study: oscillating background vs constant noise of the
    same mean rate, Gibbs and AST, each seed's runs saved as they finish; mean and 95 %
    interval over seeds, and paired differences per seed."""
    from dataclasses import replace

    from ..experiments import tempering_study as ts

    if list_conditions:
        rows = {n: c.describe() for n, c in ts.conditions().items()}
        if json_out:
            print_json(rows)
        else:
            for n, d in rows.items():
                typer.echo(f"{n:24s} {d}")
        return
    if quick and model is not None:
        fail("give either --model or --quick, not both")
    if not quick and model is None:
        fail("give --model PATH (an MNIST classification RBM) or --quick")
    cfg = ts.quick_config() if quick else ts.TemperingStudyConfig(model=str(model))
    changes: dict = {"device": device}
    if conditions is not None:
        changes["conditions"] = _expand_conditions(conditions, ts.conditions())
    if seeds is not None:
        changes["seeds"] = parse_seeds(seeds)
    for name, value in (("chains", chains), ("duration_ms", duration_ms), ("read_T", read_t),
                        ("data", data)):
        if value is not None:
            changes[name] = value
    if calibration is not None:
        from ..calibration import load_calibration

        load_calibration(calibration)  # an unknown name or a bad file is refused here
        changes["calibration"] = calibration
    cfg = replace(cfg, **changes)
    try:
        cfg.validate()
    except ValueError as exc:
        fail(str(exc))
    if model is not None and not model.is_file():
        fail(f"model file not found: {model}")
    out = default_output(out, "tempering", "quick" if quick else "study")

    compute()
    begin(cfg)
    res = ts.run(cfg, out, progress=lambda s: typer.echo(s, err=True))
    if plot:
        ts.plot(res, plot)
    result = {k: v for k, v in res.items() if k != "per_seed"} | {"out": str(out)}
    record(result)
    if json_out:
        print_json(result)
        return
    typer.echo(ts.table(res))
    typer.echo(f"\nper-seed runs and study.json in {out}/")
