"""Run directories: one folder per run holding what made it and what it gave.

A run directory is ``<root>/<name>-<UTC YYYYmmddTHHMMSSZ>/`` (``-2``, ``-3``, ... appended when
the name is taken, e.g. two runs in the same second), created by :meth:`RunDirectory.create`:

- ``config.json`` — written when the directory is created, *before* the run: the caller's
  description of the run (parameters, seeds, the SHA-256 of every input file) plus ``versions``
  (lifsampling, Python, torch, numpy, platform), ``argv`` and ``started_utc``;
- figures and copies of the run's output files (:meth:`RunDirectory.figure_path`,
  :meth:`RunDirectory.add_file`);
- ``results.json`` — written last (:meth:`RunDirectory.finish`), atomically, only by a run that
  finished. A run that fails or is interrupted writes ``error.json`` instead
  (:meth:`RunDirectory.failed`), so a directory without ``results.json`` is never mistaken for
  a finished one.

``lifsampling reproduce`` (one directory per claim) and every experiment command given
``--run-dir DIR`` write such directories; ``lifsampling report`` renders them. Plain files and
JSON only: this module imports no engine or experiment (torch only to report its version).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .io import atomic_write, write_json

STAMP_FORMAT = "%Y%m%dT%H%M%SZ"  # UTC time in a run directory's name
NAME_PATTERN = r"(?P<name>.+)-(?P<stamp>\d{8}T\d{6}Z)(-(?P<k>\d+))?"  # re.fullmatch of a name


def check_root(root: str | os.PathLike, what: str = "--run-dir") -> Path:
    """``root`` exists (or can be created) as a writable directory; ValueError naming ``what``
    otherwise. Creates nothing: a missing directory is checked through its nearest existing
    parent, by creating and removing a temporary folder there (permissions can lie for root,
    read-only mounts and /proc)."""
    root = Path(root)
    if str(root) == "":
        raise ValueError(f"{what} must be a directory path")
    if root.exists() and not root.is_dir():
        raise ValueError(f"{what} {root} is not a directory (a file of that name exists)")
    probe = root
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{what} {root}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {root} is not writable")
    try:
        with tempfile.TemporaryDirectory(dir=probe, prefix=".lifsampling-probe-"):
            pass
    except OSError as exc:
        raise ValueError(f"{what} {root} is not writable ({exc.strerror or exc})") from None
    return root


def versions() -> dict[str, Any]:
    """Versions of lifsampling, Python, torch and numpy, the platform, and whether CUDA is
    available."""
    import numpy as np
    import torch

    from . import __version__

    return {"lifsampling": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "platform": platform.platform(),
            "cuda_available": bool(torch.cuda.is_available())}


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 2**20) -> str:
    """Hex SHA-256 of the file at ``path`` (read in chunks of ``chunk_bytes`` bytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def describe_file(path: str | os.PathLike) -> dict[str, Any]:
    """An input file as recorded in ``config.json``: ``path`` (as given), ``bytes``,
    ``sha256``."""
    p = Path(path)
    return {"path": str(path), "bytes": p.stat().st_size, "sha256": sha256_file(p)}


def new_directory(root: str | os.PathLike, name: str) -> Path:
    """Create and return ``<root>/<name>-<UTC stamp>/`` (``-2``, ``-3``, ... when taken).
    ``mkdir`` without ``exist_ok`` claims a name atomically, so parallel runs never share one."""
    if not name or any(c.isspace() or c in "/\\" for c in name):
        raise ValueError(f"a run directory's name must be one word, got {name!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime(STAMP_FORMAT)
    k = 1
    while True:
        path = root / (f"{name}-{stamp}" if k == 1 else f"{name}-{stamp}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1


class RunDirectory:
    """One run's directory (see the module docstring for its files)."""

    def __init__(self, path: str | os.PathLike, name: str):
        self.path = Path(path)
        self.name = name
        self._t0 = time.perf_counter()

    @classmethod
    def create(cls, root: str | os.PathLike, name: str,
               config: Mapping[str, Any]) -> RunDirectory:
        """A new run directory under ``root`` with ``config.json`` = ``config`` plus
        ``versions``, ``argv`` and ``started_utc``. Call it once the run's inputs are checked
        and before the run starts."""
        run = cls(new_directory(root, name), name)
        write_json(run.path / "config.json", {
            **config, "versions": versions(), "argv": list(sys.argv),
            "started_utc": datetime.now(UTC).isoformat(timespec="seconds")})
        return run

    @property
    def elapsed_s(self) -> float:
        """Wall-clock seconds since the directory was created."""
        return time.perf_counter() - self._t0

    def figure_path(self, name: str) -> Path:
        """Where the file ``name`` (a figure, samples) of this run goes: inside the directory."""
        p = Path(name)
        if p.is_absolute() or ".." in p.parts or not p.parts:
            raise ValueError(f"a run file's name must be relative and stay inside the run "
                             f"directory, got {name!r}")
        return self.path / p

    def add_file(self, source: str | os.PathLike, name: str | None = None) -> Path:
        """Copy the file ``source`` into the directory (as ``name``, default its own name),
        atomically; returns the copy's path."""
        dest = self.figure_path(name or Path(source).name)
        return atomic_write(dest, lambda tmp: shutil.copyfile(source, tmp))

    def add_tree(self, source: str | os.PathLike, name: str,
                 since: float | None = None) -> list[Path]:
        """Copy every regular file under the folder ``source`` into ``<dir>/<name>/``, keeping
        relative paths (hidden files and folders, and this run directory where ``source`` holds
        it, are skipped); with ``since`` (a ``time.time()`` value) only the files modified since
        then."""
        source = Path(source)
        copied = []
        for p in sorted(source.rglob("*")):
            rel = p.relative_to(source)
            if not p.is_file() or any(part.startswith(".") for part in rel.parts):
                continue
            if self.path.resolve() in p.resolve().parents:  # an output folder holding this run
                continue
            if since is None or p.stat().st_mtime >= since:
                copied.append(self.add_file(p, str(Path(name) / rel)))
        return copied

    def finish(self, results: Any) -> Path:
        """Write ``results.json`` (atomically): the run finished."""
        return write_json(self.path / "results.json", results)

    def failed(self, exc: BaseException, wall_s: float | None = None) -> Path:
        """Write ``error.json`` (the exception and the wall time in s, default since the
        directory was created): the run did not finish."""
        wall = self.elapsed_s if wall_s is None else wall_s
        return write_json(self.path / "error.json", {"error": f"{type(exc).__name__}: {exc}",
                                                     "wall_s": round(wall, 2)})


__all__ = ["NAME_PATTERN", "RunDirectory", "check_root", "describe_file", "new_directory",
           "sha256_file", "versions"]
