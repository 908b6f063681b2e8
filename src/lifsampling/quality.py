r"""Generative quality of binary MNIST image samples in the feature space of one fixed classifier.

* :class:`FeatureClassifier` / :func:`feature_classifier` — the fixed MLP 784 → 256 (ReLU) → 10
  (softmax) shipped as ``lifsampling/data/mnist_feature_mlp.npz`` (pickle-free npz, SHA-256
  checked on load against :data:`FEATURE_MLP_SHA256`; trained once, deterministically, by
  ``scripts/train_feature_classifier.py`` on all 60,000 MNIST training images binarised at 0.5;
  its ``meta`` records the training settings; 98.6 % accuracy on the 10,000 binarised test
  images). Features are the 256 hidden ReLU activations (one unit is dead on MNIST: singular
  covariances are expected and handled).
* :func:`frechet_distance` / :func:`fd` — Fréchet distance between Gaussians fitted to two
  feature sets (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a
  local Nash equilibrium", NeurIPS; the "FID" with this MLP in place of Inception):
  FD = ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^{1/2}).
* :func:`precision_recall` — k-NN precision and recall (Kynkäänniemi, Karras, Laine, Lehtinen &
  Aila 2019, "Improved precision and recall metric for assessing generative models", NeurIPS).
* :func:`generative_quality` — all of them on equal-size, seeded subsamples plus the FD floor of
  real data against real data.

FD is biased upwards by finite sample size (the covariance estimates are noisy), and the bias
depends on n: compare FD values only at equal set sizes, and judge a model's FD against the
floor FD(real, real) at the same n (:func:`generative_quality` does both).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from .io import read_npz

FEATURE_MLP_FILE = "mnist_feature_mlp.npz"
#: SHA-256 of the shipped weights file (the file's bytes).
FEATURE_MLP_SHA256 = "7257523b575dde4d27e4a5b6de9c2b871f8603dc04ee33f531d8ad9486a43785"

N_PIXELS = 784
N_HIDDEN = 256
N_CLASSES = 10


def _as_images(x) -> np.ndarray:
    """(n, ≥784) images with values in [0, 1] (binary expected) → float32 (n, 784)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] < N_PIXELS:
        raise ValueError(f"images must have shape (n, >= {N_PIXELS}) (28x28 pixels first; extra "
                         f"columns such as label units are ignored), got {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("no images given (n = 0)")
    x = x[:, :N_PIXELS]
    if x.dtype == np.bool_:
        return x.astype(np.float32)
    x = x.astype(np.float32)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("image values must be binary or in [0, 1]; for 0-255 grey values use "
                         "lifsampling.datasets.binarize")
    return x


class FeatureClassifier:
    """MLP 784 → 256 (ReLU) → 10 (softmax): h = relu(x W1 + b1), p = softmax(h W2 + b2).

    Args:
        W1: (784, 256), b1: (256,), W2: (256, 10), b2: (10,) float32 weights.
        meta: provenance (architecture, training set, epochs, seed, test accuracy, date).
    """

    def __init__(self, W1, b1, W2, b2, meta: dict | None = None) -> None:
        shapes = {"W1": (N_PIXELS, N_HIDDEN), "b1": (N_HIDDEN,), "W2": (N_HIDDEN, N_CLASSES),
                  "b2": (N_CLASSES,)}
        arrays = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
        for name, shape in shapes.items():
            a = np.asarray(arrays[name])
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"{name} holds non-finite values")
            setattr(self, f"_{name}", torch.from_numpy(np.array(a, dtype=np.float32)))
        self.meta = dict(meta or {})

    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             sha256: str | None = FEATURE_MLP_SHA256) -> FeatureClassifier:
        """Read weights from an npz (default: the shipped file) after checking its SHA-256.

        ``sha256=None`` skips the checksum (for a re-trained file of your own). A mismatch
        raises ValueError (corrupt or modified file).
        """
        if path is None:
            ref = resources.files("lifsampling") / "data" / FEATURE_MLP_FILE
            with resources.as_file(ref) as p:
                return cls.load(p, sha256)
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"feature classifier weights not found: {path}")
        if sha256 is not None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != sha256:
                raise ValueError(f"feature classifier weights {path} are corrupt or modified: "
                                 f"SHA-256 {digest} != expected {sha256}")
        d = read_npz(path, "feature classifier weights")
        missing = {"W1", "b1", "W2", "b2"} - set(d)
        if missing:
            raise ValueError(f"feature classifier weights {path} lack {sorted(missing)}")
        meta = json.loads(str(d["meta"])) if "meta" in d else {}
        return cls(d["W1"], d["b1"], d["W2"], d["b2"], meta=meta)

    def _forward(self, x, batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
        xt = torch.from_numpy(_as_images(x))
        hs, logits = [], []
        with torch.no_grad():
            for i in range(0, xt.shape[0], batch_size):
                h = torch.relu(xt[i:i + batch_size] @ self._W1 + self._b1)
                hs.append(h)
                logits.append(h @ self._W2 + self._b2)
        return torch.cat(hs), torch.cat(logits)

    def features(self, x) -> np.ndarray:
        """Hidden-layer ReLU activations, float32 (n, 256), of images x (n, ≥784)."""
        return self._forward(x)[0].numpy()

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities, float32 (n, 10)."""
        return torch.softmax(self._forward(x)[1], dim=1).numpy()

    def predict(self, x) -> np.ndarray:
        """Most probable class, int64 (n,)."""
        return self._forward(x)[1].argmax(1).numpy()


@lru_cache(maxsize=1)
def feature_classifier() -> FeatureClassifier:
    """The shipped, checksum-verified classifier (loaded once per process)."""
    return FeatureClassifier.load()


def _as_features(f, name: str) -> np.ndarray:
    if isinstance(f, torch.Tensor):
        f = f.detach().cpu().numpy()
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"{name} must be a (n >= 2, d) feature array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} holds non-finite values")
    return f


def _sqrtm_checked(m: np.ndarray, rtol: float = 1e-4) -> np.ndarray | None:
    """Real part of sqrtm(m), or None if it is not finite or its square misses m by more than
    rtol (relative Frobenius norm). sqrtm's "singular matrix" warning is silenced: the residual
    check is what decides (a singular product such as 0 often has an exact root)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(m)
    if not np.isfinite(root).all():
        return None
    root = np.real(root)
    scale = max(np.linalg.norm(m), np.finfo(float).tiny)
    if np.linalg.norm(root @ root - m) > rtol * scale:
        return None
    return root


def frechet_distance(feats_a, feats_b, eps: float = 1e-6) -> float:
    r"""Fréchet distance between Gaussians fitted to two feature sets (n, d) (Heusel et al. 2017).

    FD = ‖μa − μb‖² + Tr Σa + Tr Σb − 2 Tr (Σa Σb)^{1/2}, sample covariances (ddof = 1), the
    matrix square root by :func:`scipy.linalg.sqrtm` in float64. Σa Σb has real non-negative
    eigenvalues, so an imaginary part of the root is round-off and is dropped. If the root is not
    finite or does not square back to Σa Σb within 1e-4 relative (near-singular covariances,
    e.g. dead ReLU units or a set of identical images), ``eps``·I is added to both covariances
    and the root recomputed, the usual remedy. Units: squared feature units.
    Biased by set size: compare only at equal n.
    """
    a, b = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    covmean = _sqrtm_checked(cov_a @ cov_b)
    if covmean is None:
        offset = eps * np.eye(cov_a.shape[0])
        covmean = _sqrtm_checked((cov_a + offset) @ (cov_b + offset))
        if covmean is None:
            raise ValueError("matrix square root of the covariance product failed even with "
                             f"eps = {eps} added to the diagonals")
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def fd(samples, reference, clf: FeatureClassifier | None = None) -> float:
    """FD between image sets (n, ≥784) in the classifier's hidden-layer features (default: the
    shipped :func:`feature_classifier`). Compare only at equal set sizes."""
    clf = clf or feature_classifier()
    return frechet_distance(clf.features(samples), clf.features(reference))


def _kth_nn_radius(x: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance of each row of x to its k-th nearest neighbour in x, itself excluded."""
    n = x.shape[0]
    radii = torch.empty(n, dtype=x.dtype)
    for i in range(0, n, batch_size):
        d = torch.cdist(x[i:i + batch_size], x)
        rows = torch.arange(d.shape[0])
        d[rows, rows + i] = float("inf")
        radii[i:i + batch_size] = d.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _inside_any_ball(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                     batch_size: int) -> torch.Tensor:
    """Bool (n_points,): point within (≤) radius of at least one centre."""
    out = torch.empty(points.shape[0], dtype=torch.bool)
    for i in range(0, points.shape[0], batch_size):
        d = torch.cdist(points[i:i + batch_size], centres)
        out[i:i + batch_size] = (d <= radii[None, :]).any(1)
    return out


def precision_recall(real_feats, gen_feats, k: int = 3, batch_size: int = 1024
                     ) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019).

    Each point's ball has radius = Euclidean distance to its k-th nearest neighbour in its own
    set (itself excluded). Precision = fraction of generated points inside (≤) at least one real
    ball (fidelity); recall = fraction of real points inside at least one generated ball
    (coverage). Distances in float64 by :func:`torch.cdist`, ``batch_size`` rows at a time
    (memory ~ 8·batch_size·n bytes).
    """
    r = torch.from_numpy(_as_features(real_feats, "real_feats"))
    g = torch.from_numpy(_as_features(gen_feats, "gen_feats"))
    if r.shape[1] != g.shape[1]:
        raise ValueError(f"feature dimensions differ: {r.shape[1]} vs {g.shape[1]}")
    if not 1 <= k < min(r.shape[0], g.shape[0]):
        raise ValueError(f"k must be in [1, set size - 1]; got k = {k} for sets of "
                         f"{r.shape[0]} and {g.shape[0]} points")
    r_real = _kth_nn_radius(r, k, batch_size)
    r_gen = _kth_nn_radius(g, k, batch_size)
    precision = _inside_any_ball(g, r, r_real, batch_size).double().mean()
    recall = _inside_any_ball(r, g, r_gen, batch_size).double().mean()
    return float(precision), float(recall)


def generative_quality(samples, reference, floor_reference=None, n: int | None = None,
                       seed: int = 0, k: int = 3, clf: FeatureClassifier | None = None) -> dict:
    """FD, k-NN precision/recall of image samples against real reference images, at equal n.

    Args:
        samples: generated images (n_s, ≥784), binary or in [0, 1].
        reference: real images (n_r, ≥784), e.g. the binarised test set.
        floor_reference: other real images (e.g. binarised training images) for the floor
            ``fd_floor`` = FD(floor_reference, reference) at the same n, and for what real
            images score as samples, ``precision_floor`` and ``recall_floor``; None: no floor.
        n: set size; default the smallest of the given sets. Each set is subsampled without
            replacement to n (seeded by ``seed``); FD depends on n, so it is reported with it.
        k: neighbours for precision/recall.
        clf: feature classifier (default the shipped one).

    Returns:
        dict with ``fd``, ``precision``, ``recall``, ``fd_floor``, ``precision_floor``,
        ``recall_floor`` (None without floor_reference), ``n`` and ``k``.
    """
    clf = clf or feature_classifier()
    sets = [_as_images(samples), _as_images(reference)]
    if floor_reference is not None:
        sets.append(_as_images(floor_reference))
    smallest = min(len(s) for s in sets)
    n = smallest if n is None else int(n)
    if not 2 <= n <= smallest:
        raise ValueError(f"n must be in [2, {smallest}] (the smallest set), got {n}")
    rng = np.random.default_rng(seed)
    feats = [clf.features(s[np.sort(rng.choice(len(s), n, replace=False))]) for s in sets]
    precision, recall = precision_recall(feats[1], feats[0], k=k)
    floor = {"fd_floor": None, "precision_floor": None, "recall_floor": None}
    if len(feats) > 2:
        pf, rf = precision_recall(feats[1], feats[2], k=k)
        floor = {"fd_floor": frechet_distance(feats[2], feats[1]), "precision_floor": pf,
                 "recall_floor": rf}
    return {"fd": frechet_distance(feats[0], feats[1]), "precision": precision, "recall": recall,
            **floor, "n": n, "k": k}
