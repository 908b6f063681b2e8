"""Core commands: demo, calibrate, sample-bm."""

from __future__ import annotations

from ._app import app


@app.command()
def version() -> None:
    """Print the package version."""
    from .. import __version__

    print(__version__)
