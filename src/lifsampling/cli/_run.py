"""``--run-dir DIR``: the run directory every experiment command can write.

An experiment command is registered with :func:`experiment` instead of ``app.command``; that
adds the ``--run-dir`` option (checked before the command runs, like every output option) and,
when it is given, writes ``DIR/<command>-<UTC YYYYmmddTHHMMSSZ>/`` through
:class:`lifsampling.rundir.RunDirectory`:

- ``config.json`` when the command calls :func:`begin` (after its inputs are checked, before the
  run): ``command``, every option as given (``parameters``), the experiment's config dataclass
  (``config``), the seeds, and ``inputs`` (path, bytes and SHA-256 of every input file an
  option names: model, calibration, correction, data files);
- ``results.json`` when the command returns: ``{"command", "wall_s", "results"}`` where
  ``results`` is what the command handed to :func:`record` (the object its ``--json`` prints);
- copies of the files the run wrote through its output options (``--out``, ``--plot``, ...),
  output folders as subfolders named after the option (only files written during the run:
  files an earlier run left there are not copied).

A command that fails or is interrupted after :func:`begin` leaves ``error.json`` and no
``results.json``; one refused before :func:`begin` writes nothing. Without ``--run-dir`` the
command behaves exactly as without this module.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import inspect
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import typer

from ._app import app, output_dir, output_file

RUN_DIR_HELP = ("also write a run directory DIR/<command>-<UTC time>/ with config.json (all "
                "parameters, seeds, versions, input files' SHA-256), results.json and copies "
                "of the figures and files the run writes; render it with lifsampling report")
MAX_HASHED_FILES = 64  # files of one input folder (two levels deep) hashed into config.json
MAX_HASHED_BYTES = 4 * 2**30  # an input folder larger than this is listed, not hashed


def run_root(path: Path | None) -> Path | None:
    """Typer callback of ``--run-dir``: a folder that can be created, checked before the run."""
    from ..rundir import check_root

    if path is None:
        return None
    try:
        return check_root(path, "--run-dir")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _jsonable(x: Any) -> Any:
    if isinstance(x, os.PathLike):
        return os.fspath(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _jsonable(dataclasses.asdict(x))
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in x]
    return x


def _folder_files(root: Path, depth: int = 2, limit: int = MAX_HASHED_FILES) -> list[Path]:
    """Regular files in ``root`` and its subfolders down to ``depth`` levels (hidden ones
    skipped), sorted; stops after ``limit + 1`` so a huge tree is not walked."""
    out: list[Path] = []
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            for q in sorted(d.iterdir()):
                if q.name.startswith("."):
                    continue
                if q.is_file():
                    out.append(q)
                    if len(out) > limit:
                        return out
                elif q.is_dir():
                    nxt.append(q)
        level = nxt
    return sorted(out)


def _describe_input(value: Any) -> dict | None:
    """An option's value as an input of the run: a file (path, bytes, SHA-256), a folder (its
    files' SHA-256, two levels deep, up to MAX_HASHED_FILES files and MAX_HASHED_BYTES), or
    None when it names no existing path."""
    from ..rundir import describe_file

    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        return None
    p = Path(value)
    try:
        if p.is_file():
            return describe_file(p)
        if p.is_dir():
            files = _folder_files(p)
            size = sum(q.stat().st_size for q in files)
            note = (f"more than {MAX_HASHED_FILES} files" if len(files) > MAX_HASHED_FILES
                    else f"{size / 2**30:.1f} GiB" if size > MAX_HASHED_BYTES else None)
            if note is not None:
                return {"path": str(value), "files": None, "note": f"{note}: not hashed"}
            return {"path": str(value), "files": {
                q.relative_to(p).as_posix(): describe_file(q) for q in files}}
    except OSError:
        return None
    return None


class _Run:
    """The run directory of one command call (nothing is written while ``root`` is None)."""

    def __init__(self, command: str, root: Path | None, params: dict[str, Any],
                 outputs: tuple[str, ...]):
        self.command, self.root, self.params, self.outputs = command, root, params, outputs
        self.directory = None
        self.results: Any = None
        self.recorded = False
        self.extra_outputs: dict[str, Path] = {}
        self.started = time.time() - 2.0  # file times of coarse file systems

    def begin(self, config: Any = None, inputs: Mapping[str, Any] | None = None) -> None:
        from ..rundir import RunDirectory

        if self.root is None or self.directory is not None:
            return
        params = _jsonable(self.params)
        cfg = _jsonable(config)
        found = {}
        for name, value in {**{k: v for k, v in self.params.items()
                               if k not in self.outputs}, **(inputs or {})}.items():
            d = _describe_input(value)
            if d is not None:
                found[name] = d
        seeds = {k: v for k, v in params.items() if "seed" in k}
        if isinstance(cfg, dict):
            seeds.update({f"config.{k}": v for k, v in cfg.items() if "seed" in k})
        self.directory = RunDirectory.create(self.root, self.command, {
            "command": self.command, "parameters": params, "config": cfg, "seeds": seeds,
            "inputs": found})

    def finish(self) -> None:
        if self.root is None or not (self.directory is not None or self.recorded):
            return
        self.begin()  # a command that recorded without begin() still gets its directory
        run = self.directory
        for name in self.outputs:
            self._copy(name, self.params.get(name))
        for name, path in self.extra_outputs.items():
            self._copy(name, path)
        run.finish({"command": self.command, "wall_s": round(run.elapsed_s, 3),
                    "results": _jsonable(self.results)})

    def _copy(self, name: str, path: Any) -> None:
        if path is None:
            return
        p = Path(path)
        if p.is_file() and p.stat().st_mtime >= self.started:
            target = p.name
            if (self.directory.path / target).exists() or target in ("config.json",
                                                                      "results.json",
                                                                      "error.json"):
                target = f"{name}-{p.name}"
            self.directory.add_file(p, target)
        elif p.is_dir():
            self.directory.add_tree(p, name, since=self.started)

    def failed(self, exc: BaseException) -> None:
        if self.directory is not None:
            self.directory.failed(exc)


_CURRENT: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("lifsampling_run",
                                                                       default=None)


def begin(config: Any = None, **inputs: Any) -> None:
    """Start the run directory (when ``--run-dir`` was given): writes ``config.json`` with
    ``config`` (a dataclass or dict: the experiment's configuration) and the options. Keyword
    ``inputs`` name further input files (path values) hashed into ``inputs``. Call it after
    the command's inputs are checked and before the work starts."""
    run = _CURRENT.get()
    if run is not None:
        run.begin(config, inputs)


def record(results: Any) -> None:
    """The command's results (the object its ``--json`` prints) for ``results.json``."""
    run = _CURRENT.get()
    if run is not None:
        run.results, run.recorded = results, True


def output(name: str, path: Path | None) -> None:
    """A file or folder the run wrote that no output option names (e.g. a default chosen by the
    command); copied into the run directory as ``name``."""
    run = _CURRENT.get()
    if run is not None and path is not None:
        run.extra_outputs[name] = Path(path)


def default_output(value: Path | None, *parts: str, kind: str = "dir",
                   option: str = "--out", name: str = "out") -> Path:
    """The path of an output option: ``value`` as given, or, when the option was not given, the
    per-user location ``user_location(*parts)`` (never the working directory). A default is
    checked like a given path (a bad one is refused before the run), named on stderr when the
    command has succeeded, and copied into the run directory as ``name``."""
    from ..io import check_output_path
    from ._app import fail, note, user_location

    if value is not None:
        return value
    path = user_location(*parts)
    try:
        check_output_path(path, kind)
    except ValueError as exc:
        fail(f"{option} not given: {exc}")
    note(f"{option} not given: wrote to {path}")
    output(name, path)
    return path


def experiment(name: str, **command_kwargs: Any) -> Callable[[Callable], Callable]:
    """Register ``f`` as the command ``name`` (``app.command``) with the ``--run-dir DIR``
    option. ``f`` itself does not see ``run_dir``; it calls :func:`begin` and :func:`record`."""

    def decorate(f: Callable) -> Callable:
        sig = inspect.signature(f, eval_str=True)
        if "run_dir" in sig.parameters:
            raise TypeError(f"command {name} declares run_dir itself")
        outputs = tuple(
            p.name for p in sig.parameters.values()
            if getattr(p.default, "callback", None) in (output_file, output_dir))

        @functools.wraps(f)
        def wrapper(**kwargs: Any) -> Any:
            root = kwargs.pop("run_dir", None)
            run = _Run(name, root, dict(kwargs), outputs)
            token = _CURRENT.set(run)
            try:
                out = f(**kwargs)
                run.finish()  # results.json last: a failure while copying leaves none
                return out
            except BaseException as exc:  # failed, refused after begin(), or interrupted
                run.failed(exc)
                raise
            finally:
                _CURRENT.reset(token)

        option = typer.Option(None, "--run-dir", callback=run_root, help=RUN_DIR_HELP)
        extra = inspect.Parameter("run_dir", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                  default=option, annotation=Path | None)
        wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
        wrapper.__annotations__ = {**f.__annotations__, "run_dir": Path | None}
        return app.command(name, **command_kwargs)(wrapper)

    return decorate


__all__ = ["begin", "default_output", "experiment", "output", "record", "run_root"]
