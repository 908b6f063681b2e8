"""What k-NN precision can reach on MNIST, and whether a read-out gate raises the STP sampler's.

Usage:
    LIFSAMPLING_DATA=../shared/data/mnist python scripts/precision_readouts.py data
    LIFSAMPLING_DATA=../shared/data/mnist python scripts/precision_readouts.py gates MODEL.npz \
        [--samples 3000] [--seed 0]

``data`` scores real training images as if they were samples: 10 disjoint blocks of 4,000
(from index 10,000), each subsampled to n = 1,000 against the comparison harness's 1,000 test
images, as every sampler is (:func:`lifsampling.quality.generative_quality`). Mean and 95 %
interval over the blocks.

``gates`` runs the LIF + STP sampler of MODEL (the harness's construction: U 0.1, tau_rec
280 ms, renormalised; 4 chains from the harness's starts, one sample per 10 ms, the first 10 %
dropped) and scores the samples through :func:`lifsampling.comparison.sample_statistics`
whole and kept by read-out gates on the network's own state: the RBM's free energy of the
pixels (summed over the one-hot label states) within quantiles of the training images';
exactly one label neuron on; the same single label neuron on in two consecutive samples; and,
instead of the visible neurons, pixels drawn from p(v | h) of the network's hidden state.

Both print JSON and write it to ``--out`` (default docs/results/precision_readouts_<cmd>.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lifsampling.boltzmann.train import load_rbm
from lifsampling.comparison import (
    SamplerOptions,
    evaluation_data,
    make_sampler,
    mean_ci95,
    sample_statistics,
)
from lifsampling.datasets import binarize, load_mnist
from lifsampling.quality import generative_quality
from lifsampling.spiking_rbm import default_calibration

KEYS = ("mode_switches_per_1000", "precision", "recall", "fd", "mean_pixel",
        "class_histogram_tv")


def data_precision(ref) -> dict:
    """Precision, recall and FD of 10 disjoint blocks of real training images."""
    ds = load_mnist("mnist", download=False)
    rows = []
    for block in range(10):
        x = binarize(ds.x_train[10_000 + 4_000 * block:14_000 + 4_000 * block])
        q = generative_quality(x, ref.x_test, seed=block)
        rows.append({k: q[k] for k in ("precision", "recall", "fd", "n")})
    return {"per_block": rows,
            **{f"{k}_mean_ci95": mean_ci95([r[k] for r in rows])
               for k in ("precision", "recall", "fd")}}


def pixel_free_energy(rbm, x: np.ndarray) -> np.ndarray:
    """F(x) = -log sum_y exp(-F(x, y)) of binary pixels x (n, 784), summed over the one-hot
    label states y only (not all 2^L states of the binary label units, as
    :func:`lifsampling.boltzmann.ais.log_unnormalized_visible` does for the likelihood)."""
    x = torch.as_tensor(x, dtype=torch.float64)
    eye = torch.eye(rbm.n_labels, dtype=torch.float64)
    f = torch.stack([rbm.free_energy(torch.cat([x, eye[k].expand(len(x), -1)], 1))
                     for k in range(rbm.n_labels)], 1)
    return (-torch.logsumexp(-f, 1)).numpy()


def gates(path: str, n: int, seed: int, ref) -> dict:
    rbm, _ = load_rbm(path)
    rbm = rbm.to(device="cpu", dtype=torch.float32)
    sampler, _ = make_sampler("stp", rbm, default_calibration(), SamplerOptions(), seed)
    s = sampler.sample(rbm, n, chains=4, seed=seed, init=ref.starts(4, seed, rbm.n_labels))
    s = s[:, n // 10:].double().numpy()
    r64 = rbm.to(dtype=torch.float64)
    nv, npx = rbm.n_visible, rbm.n_pixels
    vis, hid = s[..., :nv], s[..., nv:]
    C, S = vis.shape[:2]
    f_samples = pixel_free_energy(r64, vis[..., :npx].reshape(-1, npx)).reshape(C, S)
    ds = load_mnist("mnist", download=False)
    f_data = pixel_free_energy(r64, binarize(ds.x_train[:2000]))
    lab = vis[..., npx:]
    one = lab.sum(-1) == 1
    same = one.copy()
    same[:, 1:] &= one[:, :-1] & (lab[:, 1:].argmax(-1) == lab[:, :-1].argmax(-1))
    same[:, 0] = False
    g = torch.Generator().manual_seed(seed)
    p_v = torch.sigmoid(r64.b_v + torch.as_tensor(hid) @ r64.W.T)
    decoded = (torch.rand(p_v.shape, generator=g, dtype=torch.float64) < p_v).double().numpy()

    def score(images: np.ndarray, keep: np.ndarray) -> dict:
        st = sample_statistics([images[c][keep[c], :npx] for c in range(C)], ref, seed=seed)
        return {"kept": float(keep.mean()), **{k: st[k] for k in KEYS}}

    every = np.ones((C, S), bool)
    out = {"model": path, "seed": seed, "samples_per_chain": S, "chains": C,
           "all": score(vis, every)}
    for lo, hi in ((0, 95), (5, 95), (0, 80)):
        a = np.percentile(f_data, lo) if lo else -np.inf
        keep = (f_samples >= a) & (f_samples <= np.percentile(f_data, hi))
        out[f"free_energy_in_data_{lo}_{hi}"] = score(vis, keep)
    out["one_label_on"] = score(vis, one)
    out["same_single_label_twice"] = score(vis, same)
    out["pixels_from_p_v_given_h"] = score(decoded, every)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("data", "gates"))
    ap.add_argument("model", nargs="?")
    ap.add_argument("--samples", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds_ref = evaluation_data("mnist", n_test=1000)  # the harness's reference images
    if a.cmd == "gates" and not a.model:
        ap.error("gates needs MODEL")
    res = data_precision(ds_ref) if a.cmd == "data" else gates(a.model, a.samples, a.seed,
                                                                ds_ref)
    out = a.out or Path("docs/results") / f"precision_readouts_{a.cmd}.json"
    out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
