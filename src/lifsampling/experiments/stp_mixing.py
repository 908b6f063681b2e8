r"""Generative mixing of a classification RBM: LIF with STP, LIF without STP, Gibbs, AST, PT.

All samplers run on the same RBM from the same start states (one training image per chain,
chain k starting from a digit of class k mod 10) and emit the same number of samples per chain:
one per 10 ms of biological time for the spiking networks (sbs read-out; research/
lif_sampling.md §2), one per Gibbs sweep for Gibbs, one per visit of β = 1 for AST, one per
swap round for PT (their cost per sample is reported as ``sweeps_per_sample``).

Statistics (:func:`lifsampling.boltzmann.mixing.sample_statistics`, the classical side's
definitions, research notes tempering_and_metrics.md §3): every sample's pixels are classified
by one fixed independent classifier (logistic regression, :func:`lifsampling.metrics.
mnist_classifier`); confident class switches count only consecutive pairs both classified with
p ≥ 0.9, per 1,000 pairs; classes visited per chain; total-variation distance (and KL) between
the class histogram and the training proportions; ISL of 1,000 test images at β = 0.95 (and at
the β chosen on a validation split); integrated autocorrelation time of the free energy F(v)
(Sokal window) in samples (×10 ms for the spiking samplers); and here also the mean pixel
intensity against the data's (binarised) mean.

The STP synapses are renormalised on a pilot run of the same network
(:func:`lifsampling.spiking_rbm.renormalise_stp`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import metrics
from ..boltzmann import RBM, ASTSampler, GibbsSampler, PTSampler
from ..boltzmann.mixing import sample_statistics
from ..calibration import Calibration
from ..datasets import binarize, class_proportions, load_mnist, one_hot
from ..io import write_json, write_npz
from ..params import RENEWING
from ..plots import new_figure, save_figure
from ..spiking_rbm import SpikingRBMSampler, renormalise_stp

ALL_SAMPLERS = ("stp", "lif", "gibbs", "ast", "pt")
AST_BETAS = torch.linspace(1.0, 0.8, 20)  # the reference ladder: 20 levels, 1 -> 0.8


@dataclass(frozen=True)
class MixingData:
    """What the statistics need: start states, test/validation images, class proportions."""

    init: torch.Tensor          # (chains, n_visible) binary
    x_test: np.ndarray          # (n, 784) binary
    x_val: np.ndarray
    proportions: np.ndarray     # (10,) training class proportions
    data_mean_pixel: float
    source: str


def default_data(rbm: RBM, chains: int, *, data: str = "auto", proportions=None,
                 n_test: int = 1000, seed: int = 0) -> MixingData:
    """Start states, ISL test/validation sets (1,000 each) and class proportions.

    ``data``: ``"auto"`` (full MNIST if available locally, else the built-in subset),
    ``"builtin"``, ``"mnist"`` or a directory. ``proportions``: the class proportions of the
    RBM's training data (default: those of the loaded training set).
    """
    if rbm.n_pixels != 784 or rbm.n_labels != 10:
        raise ValueError(f"expected an MNIST classification RBM (784 pixels + 10 labels), got "
                         f"{rbm.n_pixels} pixels + {rbm.n_labels} labels")
    ds = load_mnist(data, download=False)
    rng = np.random.default_rng(seed)
    idx = [int(rng.choice(np.flatnonzero(ds.y_train == k % 10))) for k in range(chains)]
    x0 = binarize(ds.x_train[idx])
    init = torch.from_numpy(np.concatenate([x0, one_hot(ds.y_train[idx])], 1))
    xt = binarize(ds.x_test)
    n_test = min(n_test, len(xt) // 2)
    props = class_proportions(ds.y_train) if proportions is None else np.asarray(proportions)
    return MixingData(init=init, x_test=xt[:n_test], x_val=xt[n_test:2 * n_test],
                      proportions=props / props.sum(),
                      data_mean_pixel=float(binarize(ds.x_train[:10000]).mean()),
                      source=str(ds.provenance.get("source")))


def make_samplers(names, calibration: Calibration, rbm: RBM, *, U: float = 0.1,
                  tau_rec_ms: float = 280.0, pilot_ms: float = 1000.0, seed: int = 0,
                  device: str = "auto", burn_in_ms: float = 100.0) -> tuple[dict, dict]:
    """Sampler objects by name, and information on the STP renormalisation."""
    out, info = {}, {}
    for name in names:
        if name == "stp":
            syn, info = renormalise_stp(rbm, calibration, U, tau_rec_ms, pilot_ms=pilot_ms,
                                        seed=seed + 1000, device=device)
            info["synapse"] = syn.to_dict()
            out[name] = SpikingRBMSampler(calibration, syn, burn_in_ms=burn_in_ms,
                                          device=device, name="stp")
        elif name == "lif":
            out[name] = SpikingRBMSampler(calibration, RENEWING, burn_in_ms=burn_in_ms,
                                          device=device, name="lif")
        elif name == "gibbs":
            out[name] = GibbsSampler()
        elif name == "ast":
            out[name] = ASTSampler(betas=AST_BETAS)
        elif name == "pt":
            out[name] = PTSampler(betas=AST_BETAS)
        else:
            raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(ALL_SAMPLERS)}")
    return out, info


def run_mixing(rbm: RBM, calibration: Calibration, *, samplers=ALL_SAMPLERS,
               n_samples: int = 1000, chains: int = 4, U: float = 0.1,
               tau_rec_ms: float = 280.0, pilot_ms: float = 1000.0, seed: int = 0,
               device: str = "auto", data: MixingData | None = None,
               out_dir: Path | None = None, log=None) -> dict:
    """Run every sampler and return ``{"table": {name: stats}, ...}`` (see module docstring).

    With ``out_dir``: writes ``stp_mixing.json``, ``samples.npz`` (visible states, uint8), the
    sample grid ``stp_samples.png``, the class traces ``stp_classes.png`` and a GIF of the STP
    (or first spiking) chains ``stp_dream.gif``.
    """
    if n_samples < 3 or chains < 1:
        raise ValueError("need n_samples >= 3 and chains >= 1")
    names = tuple(samplers)
    rbm = rbm.to(device="cpu", dtype=torch.float32)
    data = data or default_data(rbm, chains, seed=seed)
    if data.init.shape[0] != chains:
        raise ValueError("data.init must have one start state per chain")
    clf = metrics.mnist_classifier()
    objs, stp_info = make_samplers(names, calibration, rbm, U=U, tau_rec_ms=tau_rec_ms,
                                   pilot_ms=pilot_ms, seed=seed, device=device)
    table, states = {}, {}
    for name, sampler in objs.items():
        t0 = time.perf_counter()
        s = sampler.sample(rbm, n_samples, chains=chains, seed=seed, init=data.init)
        wall = time.perf_counter() - t0
        st = sample_statistics(rbm, s, clf, data.x_test, data.x_val, data.proportions)
        pix = s[..., : rbm.n_pixels]
        st.update(confident_subsequence(clf.predict_proba(pix.float().numpy())))
        st["mean_pixel"] = float(pix.float().mean())
        st["data_mean_pixel"] = data.data_mean_pixel
        st["wall_s"] = wall
        st["sweeps_per_sample"] = sampler.info.get("sweeps_per_sample")
        if isinstance(sampler, SpikingRBMSampler):
            st["tau_int_ms"] = st["tau_int_free_energy"] * sampler.sample_every_ms
            st["biological_s_per_chain"] = n_samples * sampler.sample_every_ms / 1000.0
        st.pop("classes", None)
        table[name] = st
        states[name] = s[..., : rbm.n_visible].to(torch.uint8).numpy()
        if log:
            log(name, st)
    result = {"table": table, "n_samples": n_samples, "chains": chains, "U": U,
              "tau_rec_ms": tau_rec_ms, "stp_renormalisation": stp_info, "seed": seed,
              "data_source": data.source, "proportions": data.proportions.tolist(),
              "classifier": clf.meta, "ast_betas": [float(AST_BETAS[0]), float(AST_BETAS[-1]),
                                                    len(AST_BETAS)]}
    if "gibbs" in table and "stp" in table:
        for key in ("confident_class_switches_per_1000",
                    "confident_switches_skipping_uncertain_per_1000"):
            g = table["gibbs"][key]
            result[f"stp_over_gibbs_{key}"] = table["stp"][key] / g if g else None
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_npz(out_dir / "samples.npz", **states)
        write_json(out_dir / "stp_mixing.json", result)
        plot_sample_grid(states, out_dir / "stp_samples.png")
        plot_class_traces(states, clf, out_dir / "stp_classes.png")
        gif_name = "stp" if "stp" in states else next(iter(states))
        write_gif(states[gif_name], out_dir / "stp_dream.gif")
    return result


def confident_subsequence(probs: np.ndarray, threshold: float = 0.9) -> dict:
    """Switches between *confident* samples, skipping the uncertain ones in between
    (:func:`lifsampling.metrics.confident_class_switches` with ``skip_uncertain=True``), the
    confident fraction and the classes visited by each chain's confident samples.

    ``probs`` (chains, S, classes).
    """
    conf = probs.max(-1) >= threshold
    cls = probs.argmax(-1)
    visited = [len(set(row[keep].tolist())) for row, keep in zip(cls, conf, strict=True)]
    return {"confident_fraction": float(conf.mean()),
            "confident_switches_skipping_uncertain_per_1000":
                metrics.confident_class_switches(probs, threshold, skip_uncertain=True),
            "confident_classes_visited_per_chain": visited}


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def _tile(images: np.ndarray, ncol: int) -> np.ndarray:
    """(k, 784) binary images to one (rows*29, ncol*29) array with 1-pixel gaps."""
    k = images.shape[0]
    nrow = -(-k // ncol)
    out = np.ones((nrow * 29 + 1, ncol * 29 + 1), dtype=np.float32) * 0.5
    for i in range(k):
        r, c = divmod(i, ncol)
        out[1 + r * 29:1 + r * 29 + 28, 1 + c * 29:1 + c * 29 + 28] = \
            images[i, :784].reshape(28, 28)
    return out


def plot_sample_grid(states: dict, path: Path, n_show: int = 20, chain: int = 0) -> None:
    """One row per sampler: ``n_show`` samples of one chain, evenly spaced over the run."""
    fig, axes = new_figure(len(states), 1, figsize=(n_show * 0.45, 0.6 * len(states) + 0.4),
                           squeeze=False)
    for ax, (name, s) in zip(axes[:, 0], states.items(), strict=True):
        idx = np.linspace(0, s.shape[1] - 1, n_show).astype(int)
        ax.imshow(_tile(s[chain, idx].astype(np.float32), n_show), cmap="gray_r",
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[0, 0].set_title(f"chain {chain}: {n_show} samples evenly spaced over the run")
    save_figure(fig, path)


def plot_class_traces(states: dict, clf, path: Path, chain: int = 0) -> None:
    """Class (by the fixed classifier) of every sample of one chain; faint where p < 0.9."""
    fig, axes = new_figure(len(states), 1, figsize=(8, 1.1 * len(states) + 0.4),
                           sharex=True, squeeze=False)
    for ax, (name, s) in zip(axes[:, 0], states.items(), strict=True):
        p = clf.predict_proba(s[chain, :, :784].astype(np.float32))
        c, conf = p.argmax(1), p.max(1)
        t = np.arange(len(c))
        ax.scatter(t[conf >= 0.9], c[conf >= 0.9], s=2, color="k")
        ax.scatter(t[conf < 0.9], c[conf < 0.9], s=2, color="0.8")
        ax.set_ylim(-0.5, 9.5)
        ax.set_yticks([0, 5, 9])
        ax.set_ylabel(name)
    axes[-1, 0].set_xlabel("sample (10 ms each for the spiking samplers)")
    save_figure(fig, path)


def write_gif(states: np.ndarray, path: Path, chains: int = 4, frames: int = 100,
              scale: int = 3, frame_ms: int = 80) -> None:
    """Animated GIF of the visible pixels of up to ``chains`` chains side by side."""
    from PIL import Image

    from ..io import atomic_write

    c = min(chains, states.shape[0])
    idx = np.linspace(0, states.shape[1] - 1, min(frames, states.shape[1])).astype(int)
    imgs = []
    for t in idx:
        tile = _tile(states[:c, t].astype(np.float32), c)
        a = (255 * (1 - tile)).astype(np.uint8)
        imgs.append(Image.fromarray(a).resize((a.shape[1] * scale, a.shape[0] * scale),
                                              Image.NEAREST))
    atomic_write(path, lambda p: imgs[0].save(p, format="GIF", save_all=True,
                                              append_images=imgs[1:], duration=frame_ms,
                                              loop=0))


SUMMARY_KEYS = ("confident_class_switches_per_1000",
                "confident_switches_skipping_uncertain_per_1000", "confident_fraction",
                "confident_classes_visited_per_chain", "class_switches_per_1000",
                "classes_visited_per_chain", "class_histogram_tv", "isl_beta_0.95",
                "mean_pixel", "tau_int_free_energy", "sweeps_per_sample", "wall_s")


def summary(table: dict) -> dict:
    """The headline numbers of a mixing table, per sampler."""
    return {name: {k: st.get(k) for k in SUMMARY_KEYS} for name, st in table.items()}
