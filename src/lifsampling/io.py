"""Safe file I/O: atomic writes (temporary file renamed into place) and pickle-free loading."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def check_output_path(path: str | os.PathLike, kind: str = "file",
                      what: str = "output") -> Path:
    """Refuse, before any work, an output ``path`` that cannot be written: a file path naming a
    directory (or a directory path naming a file), a parent that is a regular file, or a
    nearest existing folder that is not writable. Creates nothing. ``kind``: "file" or "dir"."""
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise ValueError(f"{what} {path} is a directory; give a file name")
    if kind == "dir" and path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file; give a folder")
    probe = path if kind == "dir" else path.parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{what} {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK) or str(probe.resolve()).startswith("/proc"):
        raise ValueError(f"{what} {path}: {probe} is not writable")
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    An interrupted or failing write never leaves a half-written ``path`` behind.
    """
    path = check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; files get the umask's mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _builtin(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else str(x)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, default=_builtin)
    return atomic_write(path, lambda p: p.write_text(text + "\n"))


def _existing_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} not found: {path}")
    if not path.is_file():
        raise ValueError(f"{what} {path} is not a regular file")
    return path


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """Read JSON with a readable error for missing or corrupt files."""
    path = _existing_file(path, what)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path} is not valid JSON ({exc})") from None


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` atomically (the file keeps exactly the given name)."""

    def _write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return atomic_write(path, _write)


def read_npz(path: str | os.PathLike, what: str = "file") -> dict[str, np.ndarray]:
    """Load an npz without pickle; readable errors for missing or corrupt files."""
    path = _existing_file(path, what)
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # every npz is a zip archive
            raise ValueError(f"{what} {path} is not an npz file (no zip header): corrupt or "
                             "of another format")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{what} {path} is not a readable npz file ({exc})") from None
