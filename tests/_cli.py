"""Run the ``lifsampling`` command line in the test process (shared by the CLI test modules)."""

from __future__ import annotations

import sys

from lifsampling.cli import main


def cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run ``lifsampling ARGS`` in this process: (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["lifsampling", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err
