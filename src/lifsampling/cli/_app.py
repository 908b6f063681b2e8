"""The Typer application shared by the command modules, and the one-line error handling."""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn

import typer

app = typer.Typer(
    name="lifsampling",
    help="Sampling with spiking neural networks: LIF sampling, STP, tempering, plasticity.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """Sampling with spiking neural networks."""


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit status 2."""


def fail(message: str) -> NoReturn:
    raise UserError(message)


_NOTES: list[str] = []


def note(message: str) -> None:
    """A line for stderr once the command has succeeded (e.g. where a default output went); a
    refused or failed command prints only its one ``error:`` line."""
    _NOTES.append(message)


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """A non-empty comma-separated list of finite numbers from option ``option``."""
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"{option} must be a comma-separated list of numbers, got {text!r}")
    if not vals:
        fail(f"{option} is empty")
    if not all(math.isfinite(v) for v in vals):
        fail(f"{option} must be finite, got {text!r}")
    return vals


def parse_seeds(text: str) -> tuple[int, ...]:
    """``0,1,2`` or ``100-109`` (inclusive) or a mix: ``0-3,7``."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            fail(f"--seeds must be integers or ranges such as 0,1,2 or 100-109, got {text!r}")
        if a < 0 or b < a:
            fail(f"--seeds: {part!r} is not a range of integers >= 0 (low-high)")
        seeds.extend(range(a, b + 1))
    if not seeds:
        fail("--seeds is empty")
    return tuple(seeds)


def configure(cls, options: dict[str, str] | None = None, **values: Any):
    """``cls(**values)``: an experiment's self-validating config dataclass built from a command's
    options (and checked by its ``validate()``, for configs that validate on demand rather than
    on construction). Its ValueError becomes a user error that names options instead of
    fields: a leading field name (``options``: field -> option; default ``--field-name``), and
    the fields ``options`` lists wherever they appear as words."""
    import dataclasses
    import re

    options = options or {}
    try:
        config = cls(**values)
        if callable(getattr(config, "validate", None)):
            config.validate()
        return config
    except ValueError as exc:
        msg = str(exc.args[0]) if exc.args else type(exc).__name__
        head, sep, rest = msg.partition(" ")
        if head in {f.name for f in dataclasses.fields(cls)}:
            head = options.get(head, "--" + head.replace("_", "-"))
        else:
            head, sep, rest = "", "", msg
        for name, opt in options.items():
            rest = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", opt, rest)
        fail(head + sep + rest)


USER_LOCATION_HELP = "~/.cache/lifsampling, or $LIFSAMPLING_CACHE"


def user_location(*parts: str):
    """Where a command writes when no option names a place: ``<cache>/<parts>`` under the
    per-user folder of :func:`lifsampling.datasets.cache_dir` (``$LIFSAMPLING_CACHE``, else
    ``$XDG_CACHE_HOME/lifsampling``, else ``~/.cache/lifsampling``), never the working
    directory."""
    from ..datasets import cache_dir

    return cache_dir().joinpath(*parts)


def _checked_output(path, kind: str):
    from ..io import check_output_path

    if path is None:
        return None
    try:
        return check_output_path(path, kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def output_file(path):
    """Typer callback of an output-file option: checked before the command runs."""
    return _checked_output(path, "file")


def output_dir(path):
    """Typer callback of an output-folder option: checked before the command runs."""
    return _checked_output(path, "dir")


def compute(threads: int | None = None, device: str = "auto") -> None:
    """The one place a command sets its compute: validates ``--device`` (auto, cpu, cuda[:k])
    and sets torch's CPU threads (``None``: at most 2, the development machine's cores)."""
    import torch

    from ..engine import resolve_device

    if threads is not None and threads < 1:
        fail(f"--threads must be >= 1, got {threads}")
    torch.set_num_threads(threads if threads is not None else min(2, torch.get_num_threads()))
    resolve_device(device)


def print_json(obj: Any) -> None:
    """Print a JSON object (numpy/torch scalars converted) on stdout."""
    typer.echo(json.dumps(obj, indent=2, default=_to_builtin))


def _to_builtin(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    return str(x)


def run() -> None:
    """Entry point: user errors become ``error: <message>`` on stderr and exit status 2."""
    _NOTES.clear()
    try:
        # outside standalone mode typer turns Ctrl-C (and typer.Exit) into a returned exit code
        code = app(standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            if code == 130:
                typer.echo("interrupted", err=True)
            sys.exit(code)
        for line in _NOTES:
            typer.echo(line, err=True)
    except (UserError, ValueError, FileNotFoundError, MemoryError, KeyError,
            OverflowError) as exc:
        msg = exc.args[0] if exc.args else type(exc).__name__
        typer.echo(f"error: {msg}", err=True)
        sys.exit(2)
    except OSError as exc:  # unwritable/odd paths the checks did not foresee: one line
        where = f": {exc.filename}" if exc.filename else ""
        typer.echo(f"error: {exc.strerror or type(exc).__name__}{where}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click's usage errors arrive here in standalone_mode=False
        if hasattr(exc, "format_message"):
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(2)
        if hasattr(exc, "exit_code"):
            sys.exit(exc.exit_code)
        raise
