"""Feature-space generative quality (lifsampling.quality) on the built-in MNIST subset."""

from __future__ import annotations

import hashlib
import itertools
import math
import shutil
from importlib import resources

import numpy as np
import pytest

from lifsampling import quality as q
from lifsampling.datasets import binarize, load_mnist, with_labels


@pytest.fixture(scope="module")
def data():
    d = load_mnist("builtin")
    return {"x_train": binarize(d.x_train), "y_train": d.y_train,
            "x_test": binarize(d.x_test), "y_test": d.y_test}


@pytest.fixture(scope="module")
def clf():
    return q.feature_classifier()


@pytest.fixture(scope="module")
def feats(data, clf):
    rng = np.random.default_rng(1)
    train_1000 = data["x_train"][np.sort(rng.choice(len(data["x_train"]), 1000, replace=False))]
    return {"test": clf.features(data["x_test"]), "train_1000": clf.features(train_1000)}


@pytest.fixture(scope="module")
def floor(feats):
    """FD(1000 training images, 1000 test images): the real-vs-real floor at n = 1000."""
    return q.frechet_distance(feats["train_1000"], feats["test"])


def _shipped_path():
    return resources.files("lifsampling") / "data" / q.FEATURE_MLP_FILE


# ------------------------------------------------------------------------------------------
# the classifier
# ------------------------------------------------------------------------------------------
def test_shipped_classifier_checksum_meta_and_accuracy(data, clf):
    raw = _shipped_path().read_bytes()
    assert hashlib.sha256(raw).hexdigest() == q.FEATURE_MLP_SHA256
    assert len(raw) < 1.2e6
    assert q.feature_classifier() is clf  # cached
    for key in ("architecture", "training_set", "epochs", "seed", "test_accuracy", "date"):
        assert key in clf.meta
    assert clf.meta["test_accuracy"] >= 0.975
    acc = float((clf.predict(data["x_test"]) == data["y_test"]).mean())
    # Full binarised test set: p = 0.986 (meta). For 1000 test images the binomial sd is
    # sqrt(p (1 - p) / 1000) ≈ 0.0037, so 0.97 lies > 4 sd below the expected accuracy.
    assert acc >= 0.97


def test_outputs_and_input_checks(data, clf):
    x = data["x_test"][:50]
    f = clf.features(x)
    assert f.shape == (50, q.N_HIDDEN) and f.dtype == np.float32 and f.min() >= 0
    p = clf.predict_proba(x)
    assert p.shape == (50, 10)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(clf.predict(x), p.argmax(1))
    # label units after the pixels are ignored; bool input accepted
    np.testing.assert_array_equal(clf.features(with_labels(x, data["y_test"][:50])), f)
    np.testing.assert_array_equal(clf.features(x.astype(bool)), f)
    with pytest.raises(ValueError, match="shape"):
        clf.features(x[:, :700])
    with pytest.raises(ValueError, match="shape"):
        clf.features(x[0])
    with pytest.raises(ValueError, match="binary or in"):
        clf.features(load_mnist("builtin").x_test[:5])  # uint8 0-255 grey values
    with pytest.raises(ValueError, match="binary or in"):
        clf.features(-x)


def test_corrupt_weights_file_raises(tmp_path):
    path = tmp_path / "mlp.npz"
    shutil.copyfile(_shipped_path(), path)
    assert q.FeatureClassifier.load(path).meta  # an intact copy loads
    raw = bytearray(path.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 4] = bytes(b ^ 0xFF for b in raw[mid:mid + 4])
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupt"):
        q.FeatureClassifier.load(path)
    with pytest.raises(FileNotFoundError):
        q.FeatureClassifier.load(tmp_path / "absent.npz")


# ------------------------------------------------------------------------------------------
# Fréchet distance
# ------------------------------------------------------------------------------------------
def _fd_bruteforce(a, b):
    """FD with Tr (Σa Σb)^{1/2} = Tr (Σa^{1/2} Σb Σa^{1/2})^{1/2} by eigendecompositions."""
    def psd_sqrt(m):
        w, v = np.linalg.eigh(m)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ra = psd_sqrt(ca)
    inner = np.linalg.eigvalsh(ra @ cb @ ra)
    mu = a.mean(0) - b.mean(0)
    return mu @ mu + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(np.clip(inner, 0, None)).sum()


def test_frechet_matches_bruteforce():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 0.5
    assert q.frechet_distance(a, b) == pytest.approx(_fd_bruteforce(a, b), rel=1e-9)
    # a dead (all-zero) feature in both sets: singular covariances, the eps path
    a0, b0 = np.c_[a, np.zeros(len(a))], np.c_[b, np.zeros(len(b))]
    assert q.frechet_distance(a0, b0) == pytest.approx(_fd_bruteforce(a, b), rel=1e-5)
    # 1-D: (μa − μb)² + (σa − σb)²
    x, y = rng.normal(size=(500, 1)), 2 + 3 * rng.normal(size=(400, 1))
    expect = (x.mean() - y.mean()) ** 2 + (x.std(ddof=1) - y.std(ddof=1)) ** 2
    assert q.frechet_distance(x, y) == pytest.approx(expect, rel=1e-9)
    with pytest.raises(ValueError, match="dimensions"):
        q.frechet_distance(a, b[:, :5])


def test_fd_self_zero_and_noise_blank_far(data, feats, floor, clf):
    f = feats["test"]
    assert q.frechet_distance(f, f) < 1e-6 * np.trace(np.cov(f, rowvar=False))
    assert floor > 0
    rng = np.random.default_rng(0)
    noise = (rng.random((1000, 784)) < 0.5).astype(np.float32)
    blank = np.zeros((1000, 784), np.float32)
    fd_noise = q.fd(noise, data["x_test"], clf)
    fd_blank = q.fd(blank, data["x_test"], clf)
    assert fd_noise > 20 * floor
    assert fd_blank > 10 * floor
    # blank images have one feature vector: FD = ‖μ − relu(b1)‖² + Tr Σ exactly
    h0 = clf.features(blank[:1])[0].astype(np.float64)
    expect = np.sum((f.mean(0) - h0) ** 2) + np.trace(np.cov(f.astype(np.float64), rowvar=False))
    assert fd_blank == pytest.approx(expect, rel=1e-6)


# ------------------------------------------------------------------------------------------
# precision and recall
# ------------------------------------------------------------------------------------------
def _pr_bruteforce(real, gen, k):
    def radii(pts):
        return [sorted(math.dist(p, o) for j, o in enumerate(pts) if j != i)[k - 1]
                for i, p in enumerate(pts)]

    rr, rg = radii(real), radii(gen)
    prec = sum(any(math.dist(g, r) <= rad for r, rad in zip(real, rr, strict=True))
               for g in gen) / len(gen)
    rec = sum(any(math.dist(r, g) <= rad for g, rad in zip(gen, rg, strict=True))
              for r in real) / len(real)
    return prec, rec


def test_precision_recall_matches_bruteforce():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(30, 2))
    gen = rng.normal(size=(30, 2)) * 0.7 + 0.6
    for k, batch in itertools.product((1, 3, 5), (7, 1024)):
        got = q.precision_recall(real, gen, k=k, batch_size=batch)
        assert got == _pr_bruteforce(real.tolist(), gen.tolist(), k)
    with pytest.raises(ValueError, match="k must be"):
        q.precision_recall(real, gen, k=30)


def test_precision_recall_on_images(data, feats, clf):
    f = feats["test"]
    assert q.precision_recall(f, f) == (1.0, 1.0)
    rng = np.random.default_rng(0)
    noise = clf.features((rng.random((1000, 784)) < 0.5).astype(np.float32))
    assert q.precision_recall(f, noise)[0] < 0.05
    ones = clf.features(data["x_train"][data["y_train"] == 1])  # a generator of only 1s
    precision, recall = q.precision_recall(f, ones)
    assert precision > 0.8 and recall < 0.4


# ------------------------------------------------------------------------------------------
# all together
# ------------------------------------------------------------------------------------------
def test_generative_quality(data, floor):
    ones = data["x_train"][data["y_train"] == 1]
    res = q.generative_quality(ones, data["x_test"], floor_reference=data["x_train"], seed=2)
    assert set(res) == {"fd", "precision", "recall", "fd_floor", "precision_floor",
                        "recall_floor", "n", "k"}
    assert res["n"] == len(ones) == 500 and res["k"] == 3
    assert res["fd"] > 5 * res["fd_floor"] > 0
    assert res["precision"] > 0.8 and res["recall"] < 0.4
    # real training digits scored as samples: what a sampler of the data itself would get
    assert 0.6 < res["precision_floor"] < 0.95 and res["recall_floor"] > 0.6
    assert q.generative_quality(ones, data["x_test"], floor_reference=data["x_train"],
                                seed=2) == res
    res2 = q.generative_quality(data["x_train"], data["x_test"], n=1000, seed=1)
    assert res2["fd_floor"] is None and res2["n"] == 1000
    assert res2["fd"] < 2 * floor and res2["precision"] > 0.6 and res2["recall"] > 0.6
    with pytest.raises(ValueError, match="n must be"):
        q.generative_quality(ones, data["x_test"], n=501)
