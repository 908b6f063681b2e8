r"""MNIST: loader (IDX raw or gzip; directory, cache or verified download), the built-in subset,
binarisation and an imbalance helper.

Sources for :func:`load_mnist`:

* ``"builtin"`` (default) — a real MNIST subset shipped in the package
  (``lifsampling/data/mnist_subset.npz``: 500 training images per class from the start of the
  official training set, 100 test images per class from the start of the test set; made by
  ``scripts/make_mnist_subset.py``). Needs no network.
* ``"mnist"`` — the full 60,000 + 10,000 images, searched in order in: the ``data_dir`` argument,
  the directory in ``$LIFSAMPLING_DATA``, the user cache (``$LIFSAMPLING_CACHE`` or
  ``$XDG_CACHE_HOME/lifsampling`` or ``~/.cache/lifsampling``, sub-folder ``mnist``), and finally
  a download from the public mirrors in :data:`MNIST_MIRRORS` into the cache.
* a path — a directory holding the four IDX files (raw or ``.gz``).

Every file is checked against the SHA-256 of its *decompressed* content (:data:`MNIST_SHA256`,
as in ``../shared/data/mnist/SHA256SUMS.raw``; gzip bytes depend on the compressor, the content
does not). Downloads go to a temporary file that is renamed into the cache only after the
checksum matched, so an interrupted or corrupt download never leaves a file a later run trusts.

Images are returned as uint8 arrays (n, 784), 0–255, row-major 28×28; labels as int64 (n,).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .io import atomic_write, read_npz

#: SHA-256 of the decompressed IDX files (LeCun, Cortes & Burges; see module docstring).
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Standard public mirrors serving ``<name>.gz`` (tried in order).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

N_CLASSES = 10
IMAGE_SHAPE = (28, 28)
N_PIXELS = 784


@dataclass
class MNIST:
    """Train/test images (uint8, (n, 784)) and labels (int64, (n,)) with their provenance."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("x_train", "x_test"):
            x = getattr(self, name)
            if x.ndim != 2 or x.shape[1] != N_PIXELS:
                raise ValueError(f"{name} must have shape (n, {N_PIXELS}), got {x.shape}")
        if len(self.x_train) != len(self.y_train) or len(self.x_test) != len(self.y_test):
            raise ValueError("images and labels differ in number")


# --------------------------------------------------------------------------------------------
# locations
# --------------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """User cache: ``$LIFSAMPLING_CACHE``, else ``$XDG_CACHE_HOME/lifsampling``, else
    ``~/.cache/lifsampling``."""
    env = os.environ.get("LIFSAMPLING_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lifsampling"


# --------------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, what: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes (magic 0x0000 | type | ndim, big-endian int32 dims, then the array)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{what} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{what} is truncated (header)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{what} has {len(data) - header} data bytes, expected {expected} "
                         f"for shape {dims}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _decompress(raw: bytes, name: str) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{name} is not a valid gzip file ({exc})") from None
    return raw


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_verified(path: Path, name: str, verify: bool) -> bytes:
    content = _decompress(path.read_bytes(), str(path))
    if verify:
        digest = _sha256(content)
        if digest != MNIST_SHA256[name]:
            raise ValueError(f"checksum mismatch for {path}: SHA-256 of the content is "
                             f"{digest[:16]}…, expected {MNIST_SHA256[name][:16]}… "
                             "(corrupt or not the MNIST file; delete it and retry)")
    return content


def _find_file(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_dir(directory: Path, verify: bool = True) -> dict[str, np.ndarray]:
    out = {}
    for name in MNIST_SHA256:
        path = _find_file(directory, name)
        if path is None:
            raise FileNotFoundError(f"MNIST file {name}[.gz] not found in {directory}")
        out[name] = parse_idx(_read_verified(path, name, verify), str(path))
    return out


def _has_all(directory: Path) -> bool:
    return directory.is_dir() and all(_find_file(directory, n) for n in MNIST_SHA256)


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------
def download_mnist(target: Path | None = None, mirrors=None, timeout_s: float = 30.0,
                   progress: bool = False) -> Path:
    """Download the four MNIST ``.gz`` files into ``target`` (default: the cache), verified.

    Each file is fetched into a temporary file; its decompressed SHA-256 is checked; only then
    is it renamed to ``<name>.gz``. Mirrors are tried in order. Raises ``ValueError`` on a
    checksum mismatch at every mirror and ``ConnectionError`` with a clear message when no
    mirror can be reached (offline).
    """
    target = Path(target) if target is not None else cache_dir() / "mnist"
    mirrors = list(mirrors if mirrors is not None else MNIST_MIRRORS)
    target.mkdir(parents=True, exist_ok=True)
    for name, sha in MNIST_SHA256.items():
        final = target / f"{name}.gz"
        if final.is_file():
            try:
                _read_verified(final, name, verify=True)
                continue
            except ValueError:
                final.unlink()              # a stale/corrupt file is never trusted
        errors = []
        for base in mirrors:
            url = base.rstrip("/") + f"/{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as resp:
                    raw = resp.read()
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
                continue
            try:
                content = _decompress(raw, url)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            digest = _sha256(content)
            if digest != sha:
                errors.append(f"checksum mismatch for {url}: got {digest[:16]}…, "
                              f"expected {sha[:16]}…")
                continue
            atomic_write(final, lambda p, raw=raw: p.write_bytes(raw))
            if progress:
                print(f"downloaded {url} -> {final}")
            break
        else:
            if errors and all("checksum" in e or "gzip" in e for e in errors):
                raise ValueError(f"MNIST {name}: downloaded data failed verification "
                                 f"({'; '.join(errors)})")
            raise ConnectionError(
                f"could not download MNIST {name} (offline?): {'; '.join(errors)}. Put the four "
                "IDX files (raw or .gz) in a directory and pass it, or set LIFSAMPLING_DATA, or "
                "use the built-in subset (data 'builtin').")
    return target


# --------------------------------------------------------------------------------------------
# public loader
# --------------------------------------------------------------------------------------------
BUILTIN_FILE = "mnist_subset.npz"


def load_builtin() -> MNIST:
    """The shipped subset (5,000 training + 1,000 test images, balanced over classes)."""
    ref = resources.files("lifsampling") / "data" / BUILTIN_FILE
    with resources.as_file(ref) as path:
        d = read_npz(path, "built-in MNIST subset")
    import json

    meta = json.loads(str(d["meta"])) if "meta" in d else {}
    return MNIST(d["x_train"], d["y_train"].astype(np.int64), d["x_test"],
                 d["y_test"].astype(np.int64),
                 provenance={"source": "builtin", "file": BUILTIN_FILE, **meta})


def load_mnist(source: str | os.PathLike = "builtin", *, data_dir: str | os.PathLike | None = None,
               download: bool = True, mirrors=None, verify: bool = True) -> MNIST:
    """Load MNIST images (uint8 (n, 784)) and labels.

    Args:
        source: ``"builtin"`` (shipped subset), ``"mnist"`` (full set, see module docstring for
            the search order), ``"auto"`` (the full set if a local copy exists, never
            downloading, else the shipped subset) or a directory with the IDX files.
        data_dir: directory tried first for ``"mnist"``.
        download: allow downloading into the cache when no local copy exists.
        mirrors: base URLs to download from (default :data:`MNIST_MIRRORS`).
        verify: check SHA-256 of every file's decompressed content.
    """
    src = str(source)
    if src == "builtin":
        return load_builtin()
    if src == "auto":
        try:
            return load_mnist("mnist", data_dir=data_dir, download=False, verify=verify)
        except (FileNotFoundError, ValueError):
            return load_builtin()
    if src == "mnist":
        candidates = []
        if data_dir is not None:
            candidates.append(("argument", Path(data_dir)))
        if os.environ.get("LIFSAMPLING_DATA"):
            candidates.append(("LIFSAMPLING_DATA", Path(os.environ["LIFSAMPLING_DATA"])))
        candidates.append(("cache", cache_dir() / "mnist"))
        directory, how = None, None
        for how_, d in candidates:
            if _has_all(d):
                directory, how = d, how_
                break
        if directory is None:
            if data_dir is not None:
                raise FileNotFoundError(f"MNIST IDX files not found in {data_dir}")
            if not download:
                raise FileNotFoundError(
                    "full MNIST not found (looked in $LIFSAMPLING_DATA and the cache "
                    f"{cache_dir() / 'mnist'}); allow download or pass a directory")
            directory, how = download_mnist(mirrors=mirrors), "download"
    else:
        directory, how = Path(src).expanduser(), "directory"
        if not directory.is_dir():
            raise FileNotFoundError(f"data must be 'builtin', 'mnist' or a directory with the "
                                    f"MNIST IDX files; {src!r} is none of these")
    arrays = _load_dir(directory, verify=verify)
    xtr = arrays["train-images-idx3-ubyte"].reshape(-1, N_PIXELS)
    xte = arrays["t10k-images-idx3-ubyte"].reshape(-1, N_PIXELS)
    return MNIST(xtr, arrays["train-labels-idx1-ubyte"].astype(np.int64),
                 xte, arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
                 provenance={"source": "mnist", "found_via": how, "directory": str(directory),
                             "sha256_raw": dict(MNIST_SHA256) if verify else "not verified"})


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------
def to_unit_interval(x) -> np.ndarray:
    """uint8 0–255 (or float in [0, 1]) to float32 in [0, 1]."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("float images must lie in [0, 1]")
    return x


def binarize(x, method: str = "threshold", threshold: float = 0.5, seed: int = 0) -> np.ndarray:
    """Binary images (float32 0/1) from grey values.

    ``threshold``: 1 where intensity > threshold (intensity in [0, 1]).
    ``stochastic``: each pixel is 1 with probability equal to its intensity (Salakhutdinov &
    Murray 2008), drawn once with ``seed``.
    """
    u = to_unit_interval(x)
    if method == "threshold":
        return (u > threshold).astype(np.float32)
    if method == "stochastic":
        rng = np.random.default_rng(seed)
        return (rng.random(u.shape, dtype=np.float32) < u).astype(np.float32)
    raise ValueError(f"unknown binarisation {method!r}; use 'threshold' or 'stochastic'")


def one_hot(y, n_classes: int = N_CLASSES) -> np.ndarray:
    """Labels (n,) to float32 one-hot (n, n_classes)."""
    y = np.asarray(y, dtype=np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes})")
    out = np.zeros((y.shape[0], n_classes), dtype=np.float32)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


def with_labels(x_bin, y, n_classes: int = N_CLASSES) -> np.ndarray:
    """Visible vectors of the classification RBM: [pixels, one-hot label], (n, 784 + 10)."""
    return np.concatenate([np.asarray(x_bin, dtype=np.float32), one_hot(y, n_classes)], axis=1)


def class_proportions(y, n_classes: int = N_CLASSES) -> np.ndarray:
    """Fraction of each class in labels y, (n_classes,)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes).astype(float)
    return counts / max(counts.sum(), 1.0)


def imbalance(x, y, proportions, n_total: int | None = None, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Subsample (x, y) so the classes occur in the given ``proportions``.

    Args:
        proportions: (n_classes,) non-negative weights (normalised here).
        n_total: size of the result; default the largest size the available images allow.
    Returns:
        (x_sub, y_sub) in a random order drawn with ``seed``.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(proportions, dtype=float)
    if p.ndim != 1 or (p < 0).any() or p.sum() <= 0:
        raise ValueError("proportions must be a non-negative vector with a positive sum")
    p = p / p.sum()
    avail = np.bincount(y, minlength=p.size)[: p.size]
    if (y >= p.size).any():
        raise ValueError(f"labels reach {y.max()}, but only {p.size} proportions were given")
    max_total = int(np.floor(min(avail[c] / p[c] for c in range(p.size) if p[c] > 0)))
    if n_total is None:
        n_total = max_total
    if n_total > max_total or n_total <= 0:
        raise ValueError(f"n_total must be in [1, {max_total}] for these proportions "
                         f"and class counts, got {n_total}")
    counts = np.floor(p * n_total).astype(int)
    # distribute the rounding remainder to the largest fractional parts
    rem = n_total - counts.sum()
    order = np.argsort(-(p * n_total - counts))
    for c in order[:rem]:
        counts[c] += 1
    counts = np.minimum(counts, avail)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), counts[c], replace=False)
                          for c in range(p.size)])
    rng.shuffle(idx)
    return np.asarray(x)[idx], y[idx]
