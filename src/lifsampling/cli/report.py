"""``lifsampling report RUN_DIR... --out report.html``: one self-contained HTML page of run and
sweep directories (:mod:`lifsampling.report`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import USER_LOCATION_HELP, app, fail, output_file
from ._run import default_output


@app.command("report")
def report(
    run_dirs: list[Path] = typer.Argument(..., help="run directories of lifsampling reproduce "
                                          "and/or sweep directories of lifsampling sweep"),
    out: Path = typer.Option(None, "--out", callback=output_file,
                             help="the HTML file to write (default: reports/report.html in "
                             f"{USER_LOCATION_HELP})"),
    title: str = typer.Option("lifsampling report", "--title", help="the page's title"),
) -> None:
    """Render tables of config and results, and the embedded figures (PNG, GIF), of each
    directory into one static HTML page that needs no other file."""
    from ..report import kind_of, write_report

    for d in run_dirs:  # every directory is checked before anything is written
        kind_of(d)
    out = default_output(out, "reports", "report.html", kind="file")
    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out {out}: give an .html file name")
    path = write_report(run_dirs, out, title)
    typer.echo(f"{path} ({path.stat().st_size / 1024:.0f} KiB, {len(run_dirs)} "
               f"director{'y' if len(run_dirs) == 1 else 'ies'})")
