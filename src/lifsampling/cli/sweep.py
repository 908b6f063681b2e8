"""``lifsampling sweep SPEC.json``: a grid of parameters x seeds of a ``reproduce`` claim as
``dask.distributed`` tasks, resumable (:mod:`lifsampling.sweep`)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ._app import USER_LOCATION_HELP, app, fail, output_dir, print_json
from ._run import default_output


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _param(x) -> str:
    return f"{x:.6g}" if isinstance(x, float) else _fmt(x)


def print_table(summary: dict) -> None:
    """The sweep's results, one row per grid point: mean figure over seeds and its 95 %
    interval (the per-seed figures are in sweep.json); then the failed tasks."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    unit = summary.get("unit") or ""
    t = Table(title=f"sweep {escape(summary.get('claim') or '')}: {summary['tasks_done']}/"
                    f"{summary['tasks_total']} tasks done", title_justify="left")
    for name in summary["parameters"]:
        t.add_column(escape(name), justify="right")
    t.add_column("seeds", justify="right")
    t.add_column(escape(f"mean figure{' (' + unit + ')' if unit else ''}"), justify="right")
    t.add_column("95 % CI", justify="right", no_wrap=True)
    for p in summary["points"]:
        ci = p["ci95"]
        t.add_row(*[escape(_param(p["params"][n])) for n in summary["parameters"]], str(p["n"]),
                  _fmt(p["mean"]), "-" if not ci else f"{ci[0]:.4g}..{ci[1]:.4g}")
    console = Console()
    console.print(t)
    for row in summary["tasks"]:
        if row["status"] == "failed":
            console.print(f"failed {row['key']}: {row['error']}", markup=False)


@app.command("sweep")
def sweep(
    spec: Path = typer.Argument(..., help="sweep spec, JSON: {\"claim\": NAME, \"grid\": "
                                "{PARAM: [values]}, \"seeds\": [..], \"quick\": true} "
                                "(docs/scaling.md)"),
    scheduler: str = typer.Option(None, "--scheduler", help="address of a running Dask "
                                  "scheduler, HOST:PORT or tcp://HOST:PORT (default: a local "
                                  "cluster)"),
    workers: int = typer.Option(None, "--workers", help="worker processes of the local "
                                "cluster, 1 thread each (default: the CPU count, at most the "
                                "number of tasks)"),
    out: Path = typer.Option(None, "--out", callback=output_dir,
                             help="directory in which the sweep directory is made (default: "
                             f"runs/ in {USER_LOCATION_HELP})"),
    json_out: bool = typer.Option(False, "--json", help="print the summary (sweep.json) as "
                                  "JSON instead of the table"),
) -> None:
    """Run every (grid point, seed) of a claim as a Dask task; each writes its own result file,
    so rerunning the same spec runs only the missing tasks. Prints a table and writes
    <out>/<name>-<digest>/sweep.json."""
    from ..experiments.reproduce import check_out_dir
    from ..sweep import check_scheduler_address, load_spec, run_sweep

    try:
        parsed = load_spec(spec)
    except FileNotFoundError as exc:
        fail(str(exc))
    if workers is not None and not 1 <= workers <= 512:
        fail(f"--workers must be in 1..512, got {workers}")
    if scheduler is not None:
        check_scheduler_address(scheduler)
        if workers is not None:
            fail("--workers sets up a local cluster; a scheduler given by --scheduler has its "
                 "own workers")
    out = default_output(out, "runs")
    check_out_dir(out)
    summary = run_sweep(parsed, out, scheduler=scheduler, workers=workers,
                        progress=not json_out)
    if json_out:
        print_json(summary)
    else:
        print_table(summary)
        typer.echo(f"{summary['sweep_dir']}: ran {summary['ran']} task(s) in "
                   f"{summary['wall_s']:.1f} s on {summary['cluster']}; "
                   f"{summary['skipped_finished']} already done")
    if summary["tasks_failed"] or summary["tasks_missing"]:
        n = summary["tasks_failed"] + summary["tasks_missing"]
        typer.echo(f"{n} of {summary['tasks_total']} tasks did not finish; rerun the same "
                   "command to run them", err=True)
        sys.exit(1)
