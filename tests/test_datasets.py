"""MNIST loader: built-in subset, IDX parsing, checksums, verified download from a local HTTP
server (good, corrupt, truncated, offline), binarisation and imbalance."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from lifsampling.datasets import (
    MNIST_SHA256,
    binarize,
    class_proportions,
    download_mnist,
    imbalance,
    load_mnist,
    parse_idx,
    with_labels,
)

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="../shared/data/mnist absent")

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_builtin_subset():
    d = load_mnist()
    assert d.x_train.shape == (5000, 784) and d.x_test.shape == (1000, 784)
    assert d.x_train.dtype == np.uint8 and d.x_train.max() == 255
    assert np.bincount(d.y_train).tolist() == [500] * 10
    assert np.bincount(d.y_test).tolist() == [100] * 10
    assert d.provenance["source"] == "builtin"
    pkg = Path(__import__("lifsampling").__file__).parent / "data" / "mnist_subset.npz"
    assert pkg.stat().st_size < 2_000_000


def test_parse_idx_errors():
    good = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3])
    assert parse_idx(good).tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="magic"):
        parse_idx(b"\x01\x02\x03\x04" + good[4:])
    with pytest.raises(ValueError, match="expected 3"):
        parse_idx(good[:-1])


@needs_mnist
def test_full_mnist_from_directory_and_env(monkeypatch, tmp_path):
    d = load_mnist(MNIST_DIR)
    assert np.bincount(d.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(d.y_test).tolist() == TEST_COUNTS
    monkeypatch.setenv("LIFSAMPLING_DATA", str(MNIST_DIR))
    monkeypatch.setenv("LIFSAMPLING_CACHE", str(tmp_path))
    d2 = load_mnist("mnist", download=False)
    assert d2.provenance["found_via"] == "LIFSAMPLING_DATA"
    assert np.array_equal(d.x_test[:10], d2.x_test[:10])
    # the built-in subset is the first 100 test images of each class
    b = load_mnist("builtin")
    first = np.concatenate([np.flatnonzero(d.y_test == c)[:100] for c in range(10)])
    assert np.array_equal(b.x_test, d.x_test[np.sort(first)])


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1; yields (root dir, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}/"
    srv.shutdown()
    srv.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@needs_mnist
def test_download_verified(http_root, tmp_path, monkeypatch):
    root, url = http_root
    good = root / "good"
    shutil.copytree(MNIST_DIR, good)
    cache = tmp_path / "cache"
    monkeypatch.setenv("LIFSAMPLING_CACHE", str(cache))
    monkeypatch.delenv("LIFSAMPLING_DATA", raising=False)
    # first mirror unreachable (404 directory), second good
    d = load_mnist("mnist", mirrors=[url + "missing/", url + "good/"])
    assert d.provenance["found_via"] == "download"
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(
        f"{n}.gz" for n in MNIST_SHA256)
    assert np.bincount(d.y_test).tolist() == TEST_COUNTS
    # a second call finds the cache and needs no server
    d2 = load_mnist("mnist", download=False)
    assert d2.provenance["found_via"] == "cache"


@needs_mnist
def test_download_corrupt_and_truncated_never_trusted(http_root, tmp_path):
    root, url = http_root
    bad = root / "bad"
    shutil.copytree(MNIST_DIR, bad)
    # corrupt copy: one label changed, validly re-gzipped -> content checksum differs
    name = "t10k-labels-idx1-ubyte"
    raw = bytearray(gzip.decompress((MNIST_DIR / f"{name}.gz").read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    (bad / f"{name}.gz").chmod(0o644)
    (bad / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))
    target = tmp_path / "dl"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download_mnist(target, mirrors=[url + "bad/"])
    assert not (target / f"{name}.gz").exists()
    assert not list(target.glob("*.tmp")) and not list(target.glob(".*tmp"))
    # truncated (partial) download of the same file
    (bad / f"{name}.gz").write_bytes((MNIST_DIR / f"{name}.gz").read_bytes()[:-200])
    with pytest.raises(ValueError, match="gzip|verification"):
        download_mnist(target, mirrors=[url + "bad/"])
    assert not (target / f"{name}.gz").exists()
    # a corrupt file already in the cache is not trusted: replaced from a good mirror
    (target / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))
    good = root / "good2"
    shutil.copytree(MNIST_DIR, good)
    download_mnist(target, mirrors=[url + "good2/"])
    assert load_mnist(target).y_test.shape == (10000,)
    # loading a directory with a corrupt file names the checksum error
    (target / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_mnist(target)


def test_offline_message(tmp_path):
    with socket.socket() as s:                  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match="offline"):
        download_mnist(tmp_path, mirrors=[f"http://127.0.0.1:{port}/"], timeout_s=2)
    assert not any(tmp_path.iterdir())


def test_bad_source_message():
    with pytest.raises(FileNotFoundError, match="builtin"):
        load_mnist("no/such/dir")


def test_binarize_and_labels():
    x = np.array([[0, 100, 128, 255]], dtype=np.uint8)
    assert binarize(x).tolist() == [[0, 0, 1, 1]]
    grey = np.full((200, 784), 64, dtype=np.uint8)          # intensity 0.251
    b = binarize(grey, "stochastic", seed=3)
    # mean of 156,800 Bernoulli(0.251): sd 0.0011
    assert abs(b.mean() - 64 / 255) < 0.005
    assert np.array_equal(b, binarize(grey, "stochastic", seed=3))
    v = with_labels(binarize(x), [7])
    assert v.shape == (1, 14) and v[0, 4 + 7] == 1 and v[0, 4:].sum() == 1
    with pytest.raises(ValueError, match="binarisation"):
        binarize(x, "otsu")


def test_imbalance_proportions():
    d = load_mnist()
    p = np.array([0.3, 0.3] + [0.05] * 8)
    x, y = imbalance(d.x_train, d.y_train, p, seed=1)
    assert len(y) == int(500 / 0.3)
    assert np.allclose(class_proportions(y), p, atol=1 / len(y))
    x2, y2 = imbalance(d.x_train, d.y_train, p, n_total=400, seed=1)
    assert len(y2) == 400 and np.bincount(y2, minlength=10)[0] == 120
    with pytest.raises(ValueError, match="n_total"):
        imbalance(d.x_train, d.y_train, p, n_total=10_000)
