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


def mixing(model: str, n: int, chains: int, seeds: int, data: str,
           which: str = "gibbs,ast,pt") -> None:
    """Gibbs / AST / PT through the comparison harness (lifsampling.comparison): same
    training-image starts, burn-in fraction, classifier and metrics; equal samples and equal
    wall time (Gibbs's); sample grid and class traces of seed 0."""
    from lifsampling.boltzmann.train import load_rbm
    from lifsampling.comparison import ComparisonConfig, evaluation_data, run_comparison, run_seed
    from lifsampling.experiments.stp_mixing import plot_class_traces, plot_sample_grid
    from lifsampling.io import write_json

    torch.set_num_threads(1)
    rbm, _ = load_rbm(model)
    ref = evaluation_data(data)
    names = tuple(which.split(","))
    cfg = ComparisonConfig(samplers=names, n_samples=n, chains=chains,
                           seeds=tuple(range(seeds)), reference=names[0])
    first = run_seed(rbm, None, ref, cfg, 0, keep_states=True)
    states = first.pop("states")
    rest = run_comparison(rbm, None, ComparisonConfig(**{**cfg.__dict__,
                                                         "seeds": cfg.seeds[1:]}), ref=ref) \
        if seeds > 1 else {"per_seed": []}
    from lifsampling.comparison import config_dict, summarise

    per_seed = [first] + rest["per_seed"]
    res = {"config": config_dict(cfg), "model": model, "per_seed": per_seed,
           "summary": summarise(per_seed)}
    write_json(ROOT / "out" / "classical_mixing.json", res)
    FIG.mkdir(parents=True, exist_ok=True)
    plot_sample_grid(states, FIG / "classical_mixing.png")
    plot_class_traces(states, FIG / "classical_mixing_classes.png")
    print(json.dumps(res["summary"], indent=1, default=float))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("models", nargs="+")
    m = sub.add_parser("mixing")
    m.add_argument("model")
    m.add_argument("--n", type=int, default=1000)
    m.add_argument("--chains", type=int, default=4)
    m.add_argument("--seeds", type=int, default=10)
    m.add_argument("--data", default="mnist")
    m.add_argument("--samplers", default="gibbs,ast,pt")
    args = ap.parse_args()
    if args.cmd == "accuracy":
        accuracy(args.models)
    else:
        mixing(args.model, args.n, args.chains, args.seeds, args.data, args.samplers)


if __name__ == "__main__":
    main()
