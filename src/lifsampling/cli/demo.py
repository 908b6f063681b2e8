"""``lifsampling demo``: the main demo on built-in defaults."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._app import app, output_dir, print_json


@app.command()
def demo(
    out: Path = typer.Option(Path("lifsampling-demo"), help="folder for figures and results",
                             callback=output_dir),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
) -> None:
    """Run the demo on built-in data (no download) and write its figures to OUT."""
    from ..engine import resolve_device
    from ..experiments.demo import run_demo
    from ..io import write_json

    resolve_device(device)
    t0 = time.perf_counter()
    result = run_demo(out, seed=seed, device=device)
    result["wall_s"] = time.perf_counter() - t0
    write_json(out / "demo.json", result)
    print_json(result)
    typer.echo(f"figures and demo.json written to {out}/", err=True)
