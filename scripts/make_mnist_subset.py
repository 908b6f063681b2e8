"""Build the MNIST subset shipped in the package (src/lifsampling/data/mnist_subset.npz).

Takes the first 500 training images of each class (official training set order) and the first
100 test images of each class, grey values as uint8, compressed npz (< 2 MB).

Usage: python scripts/make_mnist_subset.py [MNIST_DIR]   (default ../shared/data/mnist)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from lifsampling.datasets import MNIST_SHA256, load_mnist
from lifsampling.io import write_npz

PER_CLASS_TRAIN = 500
PER_CLASS_TEST = 100


def first_per_class(y: np.ndarray, k: int) -> np.ndarray:
    idx = np.concatenate([np.flatnonzero(y == c)[:k] for c in range(10)])
    return np.sort(idx)


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data" / "mnist"
    d = load_mnist(src)
    itr, ite = first_per_class(d.y_train, PER_CLASS_TRAIN), first_per_class(d.y_test,
                                                                             PER_CLASS_TEST)
    meta = {
        "description": f"first {PER_CLASS_TRAIN} training and {PER_CLASS_TEST} test images per "
                       "class of MNIST (LeCun, Cortes & Burges; CC BY-SA 3.0)",
        "sha256_raw_of_source": MNIST_SHA256,
        "train_indices_first_last": [int(itr[0]), int(itr[-1])],
        "test_indices_first_last": [int(ite[0]), int(ite[-1])],
        "made_by": "scripts/make_mnist_subset.py",
    }
    out = root / "src" / "lifsampling" / "data" / "mnist_subset.npz"
    write_npz(out, x_train=d.x_train[itr], y_train=d.y_train[itr].astype(np.uint8),
              x_test=d.x_test[ite], y_test=d.y_test[ite].astype(np.uint8),
              train_index=itr.astype(np.int32), test_index=ite.astype(np.int32),
              meta=np.array(json.dumps(meta)))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
