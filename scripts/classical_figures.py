"""Figures and tables of docs/classical.md: accuracy over epochs, and Gibbs vs AST vs PT mixing.

Usage:
    LIFSAMPLING_DATA=../shared/data/mnist python scripts/classical_figures.py accuracy \
        out/rbm_mnist_500.npz [more models...]
    LIFSAMPLING_DATA=../shared/data/mnist python scripts/classical_figures.py mixing \
        out/rbm_mnist_500.npz --n 1000 --chains 10

``mixing`` starts every sampler from the same state (test image 0 with its label units), runs
Gibbs, AST and PT with the same β ladder, classifies every produced image with the cached
logistic-regression classifier, and writes out/classical_mixing.json and
docs/figures/classical_mixing.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FIG = ROOT / "docs" / "figures"


def accuracy(models: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lifsampling.boltzmann.train import load_rbm

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for path in models:
        _rbm, h = load_rbm(path)
        hist = h["history"]
        hp = h["hyperparameters"]
        label = (f"{'PCD' if hp['persistent'] else 'CD'}-{hp['cd_k']}, momentum "
                 f"{hp['momentum']}, {Path(path).name}")
        ax.plot([e["epoch"] for e in hist], [100 * e["test_accuracy"] for e in hist], "o-",
                label=label)
    ax.axhline(95.0, color="k", ls=":", lw=1, label="95 % target")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("794-500 RBM on MNIST: label-unit classification")
    ax.legend(fontsize=7)
    fig.tight_layout()
    FIG.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG / "classical_accuracy.png", dpi=130)
    print(f"wrote {FIG / 'classical_accuracy.png'}")


def mixing(model: str, n: int, chains: int, beta_min: float, n_betas: int, seed: int,
           data: str, burn_in: int, which: str = "gibbs,ast,pt") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lifsampling.boltzmann import ASTSampler, GibbsSampler, PTSampler
    from lifsampling.boltzmann.mixing import compare_samplers
    from lifsampling.boltzmann.train import load_rbm
    from lifsampling.datasets import binarize, class_proportions, load_mnist, with_labels
    from lifsampling.io import write_json
    from lifsampling.metrics import mnist_classifier

    torch.set_num_threads(1)
    rbm, header = load_rbm(model)
    ds = load_mnist(data)
    clf = mnist_classifier("auto")
    xte = binarize(ds.x_test)
    x_val, x_eval = xte[0::2], xte[1::2]          # β of the ISL chosen on half the test set
    init = torch.from_numpy(with_labels(xte[:1], ds.y_test[:1]))[0]
    betas = torch.linspace(1.0, beta_min, n_betas)
    samplers = {"gibbs": GibbsSampler(burn_in=burn_in),
                "ast": ASTSampler(betas=betas, burn_in=burn_in),
                "pt": PTSampler(betas=betas, burn_in=burn_in)}
    samplers = {k: v for k, v in samplers.items() if k in which.split(",")}
    res = compare_samplers(rbm, samplers, n, chains, init, clf, x_eval, x_val,
                           class_proportions(ds.y_train), seed=seed)
    table = {k: {kk: vv for kk, vv in v.items() if kk not in ("states", "classes")}
             for k, v in res.items()}
    meta = {"model": model, "n": n, "chains": chains, "betas": betas.tolist(), "seed": seed,
            "burn_in": burn_in,
            "start": f"test image 0 (label {int(ds.y_test[0])}) for every chain",
            "classifier": clf.meta, "data": ds.provenance.get("source")}
    write_json(ROOT / "out" / "classical_mixing.json", {"meta": meta, "results": table})

    fig = plt.figure(figsize=(12, 7.5))
    gs = fig.add_gridspec(len(res) + 1, 3, height_ratios=[1] * len(res) + [1.5])
    n_img = 24
    for r, name in enumerate(res):
        ax = fig.add_subplot(gs[r, :])
        st = res[name]["states"][0, :, : rbm.n_pixels]
        idx = np.linspace(0, n - 1, n_img).astype(int)
        strip = np.concatenate([st[i].reshape(28, 28) for i in idx], axis=1)
        ax.imshow(strip, cmap="gray_r", aspect="equal")
        ax.set_yticks([])
        ax.set_xticks(14 + 28 * np.arange(n_img))
        ax.set_xticklabels([str(res[name]["classes"][0][i]) for i in idx], fontsize=7)
        t = table[name]
        ax.set_title(f"{name}: chain 0, every {n // n_img}th sample (class below); "
                     f"switches/1000 = {t['class_switches_per_1000']:.1f}, confident "
                     f"{t['confident_class_switches_per_1000']:.1f}, "
                     f"ISL(β=0.95) = {t['isl_beta_0.95']:.1f}", fontsize=9)
    ax = fig.add_subplot(gs[len(res), :2])
    for name in res:
        ax.plot(res[name]["classes"][0], lw=0.8, label=name)
    ax.set_xlabel("sample (chain 0)")
    ax.set_ylabel("class")
    ax.set_yticks(range(10))
    ax.legend(fontsize=7, loc="upper right")
    ax = fig.add_subplot(gs[len(res), 2])
    w = 0.2
    ax.bar(np.arange(10) - 1.5 * w, class_proportions(ds.y_train), w, label="data", color="k")
    for i, name in enumerate(res):
        ax.bar(np.arange(10) + (i - 0.5) * w, table[name]["class_histogram"], w, label=name)
    ax.set_xticks(range(10))
    ax.set_xlabel("class")
    ax.set_ylabel("fraction")
    ax.legend(fontsize=7)
    fig.suptitle(f"Gibbs vs AST vs PT on {Path(model).name}, {chains} chains x {n} samples, "
                 f"same start; ladder β ∈ [{beta_min}, 1], {n_betas} levels", fontsize=10)
    fig.tight_layout()
    FIG.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIG / "classical_mixing.png", dpi=110)
    print(json.dumps(table, indent=1, default=float))
    print(f"wrote {FIG / 'classical_mixing.png'}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("models", nargs="+")
    m = sub.add_parser("mixing")
    m.add_argument("model")
    m.add_argument("--n", type=int, default=1000)
    m.add_argument("--chains", type=int, default=10)
    m.add_argument("--beta-min", type=float, default=0.5)
    m.add_argument("--n-betas", type=int, default=10)
    m.add_argument("--burn-in", type=int, default=0)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--data", default="mnist")
    m.add_argument("--samplers", default="gibbs,ast,pt")
    args = ap.parse_args()
    if args.cmd == "accuracy":
        accuracy(args.models)
    else:
        mixing(args.model, args.n, args.chains, args.beta_min, args.n_betas, args.seed,
               args.data, args.burn_in, args.samplers)


if __name__ == "__main__":
    main()
