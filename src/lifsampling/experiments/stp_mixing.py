r"""Generative mixing of a classification RBM: LIF with STP, LIF without STP, Gibbs, AST, PT.

Every sampler runs through the one comparison harness (:mod:`lifsampling.comparison`): the same
training-image starts (chain k from a digit of class k mod 10, drawn with the seed), the same
burn-in policy (the first 10 % of each chain's samples dropped), the same fixed classifier and
metrics (Fréchet distance and k-NN precision/recall with their floor, validated ISL, mode
switches between runs of >= 3 confident samples, split-R̂, TV of the class histogram, mean
pixel), at equal samples (one per 10 ms of biological time for the spiking samplers, one per
sweep for Gibbs, one per visit of β = 1 for AST, one per swap round for PT) and at equal
wall-clock time (the classical samplers get the STP run's wall time), over several seeds.

The STP synapses are renormalised on a pilot run of the same network
(:func:`lifsampling.spiking_rbm.renormalise_stp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..boltzmann import RBM
from ..calibration import Calibration
from ..comparison import (
    SAMPLER_NAMES,
    ComparisonConfig,
    EvaluationData,
    SamplerOptions,
    config_dict,
    evaluation_data,
    run_comparison,
    run_seed,
    summarise,
)
from ..io import write_json, write_npz
from ..plots import new_figure, save_figure
from . import _validate as check

ALL_SAMPLERS = SAMPLER_NAMES


def sampler_names(name: str, values) -> tuple[str, ...]:
    """A non-empty tuple of distinct names from :data:`ALL_SAMPLERS`."""
    names = (values,) if isinstance(values, str) else tuple(values)
    bad = [s for s in names if s not in ALL_SAMPLERS]
    if bad or not names:
        raise ValueError(f"unknown sampler(s) {bad}; choose from {', '.join(ALL_SAMPLERS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{name} repeat a sampler: {list(names)}")
    return names


@dataclass(frozen=True)
class MixingConfig:
    """One mixing comparison: ``samplers`` (from :data:`ALL_SAMPLERS`), ``n_samples`` per chain
    after burn-in (>= 3), ``chains`` (>= 1), STP utilisation ``U`` in (0, 1] and recovery time
    ``tau_rec_ms`` (ms, > 0), renormalised on a ``pilot_ms`` pilot run (ms, > 0), ``seeds``
    (distinct, >= 0), ``device`` (auto, cpu, cuda[:k]), and whether to also compare at the STP
    run's wall time (``equal_time``). Validated on construction (ValueError naming the field)."""

    samplers: tuple[str, ...] = ALL_SAMPLERS
    n_samples: int = 1000
    chains: int = 4
    U: float = 0.1
    tau_rec_ms: float = 280.0
    pilot_ms: float = 1000.0
    seeds: tuple[int, ...] = (0,)
    device: str = "auto"
    equal_time: bool = True

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "samplers", sampler_names("samplers", self.samplers))
        set_(self, "n_samples", check.whole("n_samples", self.n_samples, at_least=3))
        set_(self, "chains", check.whole("chains", self.chains, at_least=1))
        set_(self, "U", check.number("U", self.U, above=0.0, at_most=1.0))
        set_(self, "tau_rec_ms", check.number("tau_rec_ms", self.tau_rec_ms, above=0.0))
        set_(self, "pilot_ms", check.number("pilot_ms", self.pilot_ms, above=0.0))
        set_(self, "seeds", check.seeds("seeds", self.seeds))
        check.device(self.device)
        if not isinstance(self.equal_time, bool):
            raise ValueError(f"equal_time must be true or false, got {self.equal_time!r}")

    def comparison(self, correction=None) -> ComparisonConfig:
        """The harness's :class:`~lifsampling.comparison.ComparisonConfig` of this run
        (``correction``: a per-layer mapping correction for the spiking samplers)."""
        cfg = ComparisonConfig(samplers=self.samplers, n_samples=self.n_samples,
                               chains=self.chains, seeds=self.seeds, equal_time=self.equal_time,
                               options=SamplerOptions(U=self.U, tau_rec_ms=self.tau_rec_ms,
                                                      pilot_ms=self.pilot_ms,
                                                      device=self.device,
                                                      correction=correction))
        cfg.validate()
        return cfg


def default_data(rbm: RBM, *, data: str = "auto", proportions=None,
                 n_test: int = 1000) -> EvaluationData:
    """Reference images (1,000 test, 1,000 validation) and the training class proportions
    (``proportions``: those of the RBM's training data, default those of the loaded set)."""
    if rbm.n_pixels != 784 or rbm.n_labels != 10:
        raise ValueError(f"expected an MNIST classification RBM (784 pixels + 10 labels), got "
                         f"{rbm.n_pixels} pixels + {rbm.n_labels} labels")
    return evaluation_data(data, n_test=n_test, proportions=proportions)


def run_mixing(rbm: RBM, calibration: Calibration, config: MixingConfig | None = None, *,
               data: EvaluationData | None = None, out_dir: Path | None = None, log=None,
               progress: bool = False, correction=None, **params) -> dict:
    """Run every sampler of ``config`` (or of ``MixingConfig(**params)``) for every seed
    through the harness; returns :func:`lifsampling.comparison.run_comparison`'s result.

    With ``out_dir``: writes ``per_seed/seed_<k>.json`` as each seed finishes, then
    ``stp_mixing.json`` (config, per-seed raw results, summary),
    ``samples.npz`` (visible states of the first seed, uint8), the sample grid
    ``stp_samples.png``, the class traces ``stp_classes.png`` and a GIF of the STP (or first)
    chains ``stp_dream.gif``.
    """
    cfg = check.configured(MixingConfig, config, params).comparison(correction)
    rbm = rbm.to(device="cpu")
    data = data or default_data(rbm)

    def save_seed(r: dict) -> None:  # each seed's raw result as soon as it exists
        if out_dir is not None:
            write_json(Path(out_dir) / "per_seed" / f"seed_{r['seed']}.json",
                       {k: v for k, v in r.items() if k != "states"})

    first = run_seed(rbm, calibration, data, cfg, cfg.seeds[0], keep_states=True, log=log)
    states = first.pop("states")
    save_seed(first)
    rest = ComparisonConfig(**{**cfg.__dict__, "seeds": cfg.seeds[1:]}) \
        if len(cfg.seeds) > 1 else None
    if rest is not None:
        res = run_comparison(rbm, calibration, rest, ref=data, log=log, progress=progress,
                             on_seed=save_seed)
        per_seed = [first] + res["per_seed"]
    else:
        per_seed = [first]
    result = {"config": config_dict(cfg), "data_source": data.source,
              "proportions": data.proportions.tolist(), "per_seed": per_seed,
              "summary": summarise(per_seed)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_npz(out_dir / "samples.npz", **states)
        write_json(out_dir / "stp_mixing.json", result)
        plot_sample_grid(states, out_dir / "stp_samples.png")
        plot_class_traces(states, out_dir / "stp_classes.png")
        gif_name = "stp" if "stp" in states else next(iter(states))
        write_gif(states[gif_name], out_dir / "stp_dream.gif")
    return result


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


def plot_class_traces(states: dict, path: Path, chain: int = 0) -> None:
    """Class (by the fixed classifier) of every sample of one chain; faint where p < 0.9."""
    from ..quality import feature_classifier

    clf = feature_classifier()
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


SUMMARY_KEYS = ("mode_switches_per_1000", "confident_fraction", "precision", "recall", "fd",
                "fd_floor", "precision_floor", "recall_floor", "isl", "class_histogram_tv",
                "mean_pixel", "rhat", "wall_s")


def summary(result: dict, budget: str = "equal_samples") -> dict:
    """The headline numbers per sampler: mean (and 95 % interval over seeds, where there are
    >= 3) of :data:`SUMMARY_KEYS` at ``budget`` ("equal_samples" or "equal_time")."""
    cells = result["summary"].get(budget, {})
    return {name: {k: (c[k]["mean"] if c[k]["ci95"] is None else
                       {"mean": c[k]["mean"], "ci95": c[k]["ci95"]}) for k in SUMMARY_KEYS
                   if k in c} for name, c in cells.items()}
