"""Command-line interface: ``lifsampling <command>``. One module per topic registers its commands
on the shared Typer app in ``_app.py``."""

from __future__ import annotations

import importlib

from ._app import app, run

# Each topic module registers its commands when imported.
_COMMAND_MODULES = ("core", "demo", "plasticity", "classical", "hcs", "tempering", "stp",
                    "spiking", "reproduce", "evaluation", "sweep", "report", "export")
for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")


def main() -> None:
    run()


__all__ = ["app", "main"]
