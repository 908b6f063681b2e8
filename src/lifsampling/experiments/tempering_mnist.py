r"""Rhythmic background as simulated tempering on a trained MNIST
classification RBM (pixels + labels visible), against constant noise, Gibbs and AST.

**Drive.** nu(t) = max(0, nu_bar + A sin(2 pi f t + pi/2)) for excitatory and inhibitory
background alike (balanced), so t = 0 is a peak and the troughs lie at t = (k + 1/2)/f.

**Mapping at the read-out rate.** Samples are read in the troughs, so the network is mapped
with the calibration of the trough rate nu_min = nu_bar - A (u0, alpha from the measured
:class:`~lifsampling.temperature.TemperatureMap`, coupling scales from the reference
calibration): the trough samples the trained distribution (T = 1) and every other phase a
hotter version of it, T(t) = alpha(nu(t)) / alpha(nu_min) ≈ sqrt(nu(t)/nu_min) (research notes
§1.5, §1.6). The midpoint drift is compensated through the leak potentials,
E_l(t) = E_l + u0(nu(t)) - u0(nu_min) (:func:`lifsampling.temperature.leak_schedule`).

**Read-out.** The state is recorded every 1 ms; samples are the recorded states in the trough
windows T(t) <= ``read_T`` (default 1.02, i.e. nu <= 1.04 nu_min), spaced by tau_ref = 10 ms
around each trough's centre (at least the centre sample of every trough). Constant noise is
read every 10 ms.

**Metrics** (research notes §3; the harness's one fixed classifier, the MLP of
:func:`lifsampling.quality.feature_classifier`): the harness suite (mode switches between
confident runs, FD, precision/recall, validated ISL, split-R̂), and beside it the earlier
columns: confident class switches (both neighbours classified with p >= 0.9) per 1,000 samples
and per second of biological time, classes visited, ISL (beta = 0.95) of the built-in test
images at a common number of samples, class histogram, mean pixel intensity.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from .. import metrics
from ..boltzmann import RBM
from ..calibration import Calibration
from ..comparison import (
    EvaluationData,
    SamplerOptions,
    equal_time_budget,
    make_sampler,
    run_equal_time,
    sample_statistics,
)
from ..comparison import evaluation_data as harness_data
from ..datasets import binarize, load_mnist
from ..params import NoiseParams, SinusoidalRate, SynapseParams
from ..plots import new_figure, save_figure
from ..quality import feature_classifier
from ..spiking_rbm import build_network, generate
from ..temperature import TemperatureMap, balanced_noise, leak_schedule

TAU_REF_MS = 10.0
SUITE_KEYS = ("fd", "fd_floor", "precision", "recall", "isl", "isl_beta",
              "mode_switches_per_1000", "mode_switches", "confident_fraction", "rhat",
              "rhat_free_energy", "mean_pixel")
MIN_TROUGH_HZ = 100.0
RATE_QUANTUM_HZ = 25.0


@dataclass(frozen=True)
class QuantizedRate:
    """``rate(t)`` rounded to multiples of ``quantum_hz``: the engine rebuilds its Poisson
    table only when the rate changes, which is otherwise every step (the rebuild costs more than
    the step of a 1,300-neuron network). 25 Hz is < 1 % of the trough rate (T error < 0.5 %)."""

    rate: SinusoidalRate
    quantum_hz: float = RATE_QUANTUM_HZ

    def __call__(self, t_ms: float) -> float:
        return round(self.rate(t_ms) / self.quantum_hz) * self.quantum_hz


@dataclass(frozen=True)
class Rhythm:
    """Balanced background nu(t) = max(0, mean + A sin(2 pi f t + pi/2)) (Hz, Hz, Hz)."""

    mean_hz: float
    amplitude_hz: float = 0.0
    frequency_hz: float = 0.0

    def validate(self) -> None:
        """Clear errors for rates that make no sense for tempering."""
        for name in ("mean_hz", "amplitude_hz", "frequency_hz"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ValueError(f"{name} must be finite, got {v}")
        if self.frequency_hz < 0:
            raise ValueError(f"frequency must be >= 0 Hz, got {self.frequency_hz}")
        if self.amplitude_hz < 0:
            raise ValueError(f"amplitude must be >= 0 Hz, got {self.amplitude_hz}")
        if self.mean_hz <= 0:
            raise ValueError(f"mean rate must be > 0 Hz, got {self.mean_hz}")
        if self.oscillating and self.mean_hz - self.amplitude_hz < MIN_TROUGH_HZ:
            raise ValueError(
                f"amplitude {self.amplitude_hz:g} Hz leaves a trough rate of "
                f"{self.mean_hz - self.amplitude_hz:g} Hz for mean {self.mean_hz:g} Hz; the "
                f"trough (where samples are read and the network is calibrated) must be >= "
                f"{MIN_TROUGH_HZ:g} Hz, so use amplitude <= mean - {MIN_TROUGH_HZ:g} Hz")
        if self.oscillating and 1000.0 / self.frequency_hz < TAU_REF_MS:
            raise ValueError(f"frequency {self.frequency_hz:g} Hz has a period shorter than "
                             f"tau_ref = {TAU_REF_MS:g} ms; use <= {1000 / TAU_REF_MS:g} Hz")

    @property
    def oscillating(self) -> bool:
        return self.amplitude_hz > 0 and self.frequency_hz > 0

    @property
    def trough_hz(self) -> float:
        return self.mean_hz - self.amplitude_hz if self.oscillating else self.mean_hz

    def rate(self, quantum_hz: float = 0.0) -> SinusoidalRate | QuantizedRate | float:
        """The rate function (Hz of t in ms); quantised to ``quantum_hz`` if > 0."""
        if not self.oscillating:
            return float(self.mean_hz)
        r = SinusoidalRate(self.mean_hz, self.amplitude_hz, self.frequency_hz, math.pi / 2)
        return QuantizedRate(r, quantum_hz) if quantum_hz > 0 else r

    def label(self) -> str:
        if not self.oscillating:
            return f"constant {self.mean_hz / 1000:g} kHz"
        return (f"{self.mean_hz / 1000:g}±{self.amplitude_hz / 1000:g} kHz "
                f"@ {self.frequency_hz:g} Hz")


def calibration_at(rate_hz: float, tmap: TemperatureMap, base: Calibration) -> Calibration:
    """``base`` (its neuron, noise weights and coupling scales) with u0, alpha and the background
    of the balanced rate ``rate_hz`` taken from ``tmap``."""
    return replace(base, u0_mV=float(tmap.u0(rate_hz)), alpha_mV=float(tmap.alpha(rate_hz)),
                   noise=balanced_noise(rate_hz, base.noise))


def trough_indices(times_ms: np.ndarray, rhythm: Rhythm, read_T: float = 1.02,
                   spacing_ms: float = TAU_REF_MS) -> np.ndarray:
    """Indices of recorded times (ascending, evenly spaced) to keep as trough samples."""
    if not rhythm.oscillating:
        step = max(1, int(round(spacing_ms / (times_ms[1] - times_ms[0]))))
        return np.arange(0, len(times_ms), step)
    rate = rhythm.rate()
    nu = np.array([rate(t) for t in times_ms])
    ok = nu <= rhythm.trough_hz * read_T**2
    # the recorded time nearest each trough centre is always eligible
    period = 1000.0 / rhythm.frequency_hz
    centres = (np.arange(np.ceil(times_ms[0] / period - 0.5), times_ms[-1] / period) + 0.5) * period
    dt = times_ms[1] - times_ms[0]
    # only centres inside the recorded span (a centre past the end used to be clipped onto the
    # last recorded time, i.e. a non-trough sample)
    centres = centres[(centres >= times_ms[0] - 0.5 * dt) & (centres <= times_ms[-1] + 0.5 * dt)]
    cidx = np.clip(np.round((centres - times_ms[0]) / dt).astype(int), 0, len(times_ms) - 1)
    ok[cidx] = True
    step = max(1, int(round(spacing_ms / dt)))
    keep = []
    for c in np.unique(cidx):
        a = c
        while a - 1 >= 0 and ok[a - 1]:
            a -= 1
        b = c
        while b + 1 < len(ok) and ok[b + 1]:
            b += 1
        keep.extend(range(c - ((c - a) // step) * step, b + 1, step))
    return np.unique(np.asarray(keep, dtype=int))


def run_lif(rbm: RBM, tmap: TemperatureMap, base: Calibration, rhythm: Rhythm, *,
            duration_ms: float, chains: int, seed: int = 0, burn_in_ms: float = 200.0,
            read_T: float = 1.02, compensate: bool = True, synapse: SynapseParams | None = None,
            device: str = "cpu", keep_all: bool = False, init=None,
            record_ms: float = 1.0, backend: str = "auto") -> dict:
    """Simulate the spiking RBM under ``rhythm``; return trough samples (chains, S, n_v) uint8
    and their times (ms, absolute, burn-in included).

    An oscillating run records the state every ``record_ms`` (1 ms; 5 ms keeps a 16-chain x
    20 s run in ~0.3 GB, and the trough centres of 1-10 Hz stay on the grid) and keeps the
    trough samples; constant noise is read every tau_ref. ``backend``: the engine's
    (:func:`lifsampling.engine.simulate`)."""
    rhythm.validate()
    if not 0 < record_ms <= TAU_REF_MS:
        raise ValueError(f"record_ms must be in (0, {TAU_REF_MS:g}] ms, got {record_ms}")
    nu_read = rhythm.trough_hz
    cal = calibration_at(nu_read, tmap, base)
    rate = rhythm.rate(RATE_QUANTUM_HZ)
    noise = NoiseParams(rate_exc_hz=rate, rate_inh_hz=rate, w_exc_uS=base.noise.w_exc_uS,
                        w_inh_uS=base.noise.w_inh_uS)
    net = build_network(rbm, cal, synapse=synapse, noise=noise)
    sched = None
    if compensate and rhythm.oscillating:
        sched = leak_schedule(net.e_leak_mV, tmap.with_reference(nu_read),
                              lambda t: float(rate(t)))
    read_ms = float(record_ms) if rhythm.oscillating else TAU_REF_MS
    n = int(round(duration_ms / read_ms))
    s = generate(rbm, cal, n_samples=n, chains=chains, sample_every_ms=read_ms,
                 burn_in_ms=burn_in_ms, seed=seed, device=device, e_leak_schedule=sched,
                 network=net, init=init, backend=backend)
    times = burn_in_ms + read_ms * np.arange(n)
    idx = trough_indices(times, rhythm, read_T)
    out = {"visible": s.visible[:, idx].numpy(), "times_ms": times[idx], "wall_s": s.wall_s,
           "rhythm": rhythm, "duration_ms": duration_ms, "chains": chains,
           "read_rate_hz": nu_read, "u0_mV": cal.u0_mV, "alpha_mV": cal.alpha_mV}
    if keep_all:
        out["all_visible"] = s.visible.numpy()
        out["all_times_ms"] = times
    return out


def run_classical(rbm: RBM, name: str, sweeps: int, chains: int, seed: int = 0,
                  init=None) -> dict:
    """Gibbs (one emitted sample per sweep; ``visible`` (chains, sweeps, n_v)) or AST (the one
    ladder :data:`~lifsampling.comparison.TEMPERING_BETAS`, exactly ``sweeps`` steps of one
    sweep each; ``visible`` is a list of each chain's beta = 1 samples, of different lengths).
    Both come from the harness's sampler registry (:func:`~lifsampling.comparison.make_sampler`).
    """
    if name not in ("gibbs", "ast"):
        raise ValueError(f"unknown sampler {name!r}; run_classical runs gibbs or ast")
    model = rbm.to(dtype=torch.float32)
    s, _ = make_sampler(name, model, None, SamplerOptions())
    t0 = time.perf_counter()
    if name == "ast":
        # each chain keeps what it emitted at beta = 1 (ragged)
        per_chain = s.sample_budget(model, sweeps, chains=chains, seed=seed, init=init)
        vis = [c[:, : rbm.n_visible].to(torch.uint8).numpy() for c in per_chain]
    else:
        states = s.sample(model, sweeps, chains=chains, seed=seed, init=init)
        vis = states[..., : rbm.n_visible].to(torch.uint8).numpy()
    return {"visible": vis, "info": {k: v for k, v in s.info.items() if k != "log_weights"},
            "sweeps": sweeps, "chains": chains, "wall_s": time.perf_counter() - t0}


def run_classical_equal_time(rbm: RBM, name: str, run: dict, ref_wall_s: float, seed: int = 0,
                             init=None) -> dict:
    """Gibbs or AST given the wall time ``ref_wall_s`` (s) of a spiking run instead of its
    sweeps: ``run`` is the same sampler's :func:`run_classical` result (its cost per sweep);
    Gibbs is thinned to the same samples per chain over the budget, AST runs the sweeps that
    fit and keeps every beta = 1 sample of every chain (ragged, as in its equal-samples row;
    the harness's :func:`lifsampling.comparison.run_equal_time` would thin each chain to at
    most the equal-samples count)."""
    if name == "ast":
        budget = equal_time_budget(run["wall_s"], run["sweeps"], ref_wall_s)
        r = run_classical(rbm, "ast", budget, run["chains"], seed, init=init)
        r["info"] = {**r["info"], "sweeps": budget, "reference_wall_s": ref_wall_s}
        return r
    model = rbm.to(dtype=torch.float32)
    e = run_equal_time(name, run["info"], model, run["wall_s"], ref_wall_s, run["sweeps"],
                       run["chains"], seed, init, SamplerOptions())
    vis = None if e["states"] is None else e["states"][..., : rbm.n_visible].to(
        torch.uint8).numpy()
    return {"visible": vis, "info": {**e["info"], "sweeps": e["sweeps"],
                                     "reference_wall_s": ref_wall_s},
            "sweeps": e["sweeps"], "chains": run["chains"], "wall_s": e["wall_s"]}


def statistics(visible: np.ndarray | list[np.ndarray], rbm: RBM, classifier,
               x_test: np.ndarray, proportions: np.ndarray, biological_s: float | None,
               isl_n: int, seed: int = 0, ref: EvaluationData | None = None) -> dict:
    """Mixing and quality statistics of samples ``visible``: (chains, S, n_v), or a list of
    per-chain (S_c, n_v) arrays of different lengths (AST at a fixed budget, see
    :func:`run_classical`). Switches and classes are counted within each chain, never across
    two; the class histogram, ISL (``isl_n`` samples drawn with ``seed``) and intensity use the
    pooled samples. Every sample is classified once.

    With ``ref`` the comparison harness's suite (:func:`lifsampling.comparison.
    sample_statistics`: FD, precision, recall, validated ISL, mode switches between confident
    runs, split-R̂) is added; ``isl`` is then the validated ISL and ``isl_beta_0.95`` the
    fixed-bandwidth one. Ragged chains keep all their samples: the quality figures are taken
    on the pooled samples and the mode switches within each chain over all its pairs; only
    split-R̂, which needs equal lengths, uses the chains thinned to the shortest."""
    lengths = np.array([len(c) for c in visible])
    pix = np.concatenate(list(visible))[:, : rbm.n_pixels].astype(np.float32)
    probs = classifier.predict_proba(pix)
    chains = [p for p in np.split(probs, np.cumsum(lengths)[:-1]) if len(p) > 1]
    pairs = max(int(sum(len(p) - 1 for p in chains)), 1)
    raw = sum(metrics.confident_class_switches(p, 0.9, per=None) for p in chains)
    # switches in the subsequence of confident samples of each chain (ambiguous samples
    # between two confident ones skipped), per 1,000 samples of all kinds
    sub_sw = int(sum(metrics.confident_class_switches(p, 0.9, per=None, skip_uncertain=True)
                     for p in chains))
    cls, conf = probs.argmax(-1), probs.max(-1) >= 0.9
    hist = metrics.class_histogram_distance(cls, proportions)
    rng = np.random.default_rng(seed)
    sub = pix[rng.choice(len(pix), size=min(isl_n, len(pix)), replace=False)]
    out = {
        "confident_subsequence_switches_per_1000": 1000.0 * sub_sw / pairs,
        "confident_subsequence_switches": sub_sw,
        "confident_subsequence_switches_per_s": sub_sw / biological_s if biological_s
        else None,
        "samples": int(lengths.sum()), "samples_per_chain": float(lengths.mean()),
        "samples_per_chain_range": [int(lengths.min()), int(lengths.max())],
        "consecutive_pairs": pairs,  # the denominator of every "per 1000" rate
        "confident_switches_per_1000": 1000.0 * raw / pairs,
        "confident_switches": raw,
        "confident_switches_per_s": raw / biological_s if biological_s else None,
        "switches_per_1000": 1000.0 * sum(metrics.class_switches(p.argmax(-1), per=None)
                                          for p in chains) / pairs,
        "confident_fraction": float(conf.mean()),
        "classes_visited_per_chain": float(np.mean([metrics.classes_visited(p.argmax(-1))[0]
                                                    for p in chains])) if chains else 0.0,
        "classes_visited_total": int(len(np.unique(cls))),
        "classes_visited_confident": int(len(np.unique(cls[conf]))) if conf.any() else 0,
        "isl": metrics.isl(sub, x_test, 0.95), "isl_samples": int(len(sub)),
        "class_histogram": np.round(hist["histogram"], 4).tolist(),
        "class_histogram_tv": hist["total_variation"],
        "mean_intensity": float(pix.mean()),
    }
    if ref is not None:
        st = sample_statistics([np.asarray(c)[:, : rbm.n_pixels] for c in visible], ref,
                               rbm=rbm, visible=list(visible), seed=seed)
        out["isl_beta_0.95"] = out.pop("isl")
        out.update({k: st[k] for k in SUITE_KEYS if k in st})
    return out


def evaluation_data(n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Binarised built-in test images (first ``n``) and the training class proportions."""
    d = load_mnist("builtin")
    return (binarize(d.x_test[:n]).astype(np.float32),
            np.bincount(d.y_train, minlength=10) / len(d.y_train))


def plot_sample_grid(visible: np.ndarray, times_ms: np.ndarray, rhythm: Rhythm, path,
                     n_pixels: int = 784, columns: int = 12, rows: int = 4, tmap=None) -> None:
    """Images of ``rows`` consecutive cycles (one chain) at ``columns`` phases per cycle, with
    the rate (and temperature) curve above: seed 002's "digits in the troughs" figure."""
    period = 1000.0 / rhythm.frequency_hz
    dt = times_ms[1] - times_ms[0]
    start = (np.ceil((times_ms[0]) / period)) * period  # a peak
    fig, axes = new_figure(rows + 1, columns, figsize=(columns * 0.9, (rows + 1) * 0.95 + 0.4))
    phases = np.arange(columns) / columns
    rate = rhythm.rate()
    gs = axes[0, 0].get_gridspec()
    for ax in axes[0]:
        ax.remove()
    top = fig.add_subplot(gs[0, :])
    tt = np.linspace(0, period, 200)
    top.plot(tt, [rate(start + t) / 1000 for t in tt], color="k")
    top.plot(phases * period, [rate(start + p * period) / 1000 for p in phases], "o", ms=3)
    top.set_ylabel("kHz", fontsize=7)
    top.set_xlim(-0.5 * period / columns, period * (1 - 0.5 / columns))
    top.set_xticks([])
    top.tick_params(labelsize=6)
    top.set_title(f"one cycle of {rhythm.label()}; rows: consecutive cycles (one chain)",
                  fontsize=8)
    for r in range(rows):
        for c, p in enumerate(phases):
            t = start + (r + p) * period
            i = int(round((t - times_ms[0]) / dt))
            ax = axes[r + 1, c]
            ax.axis("off")
            if 0 <= i < visible.shape[0]:
                ax.imshow(visible[i, :n_pixels].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
                if r == 0 and tmap is not None:
                    ax.set_title(f"T={float(tmap.temperature(rate(t))):.2f}", fontsize=6)
    save_figure(fig, path)


def initial_images(rbm: RBM, chains: int, seed: int = 0) -> np.ndarray:
    """Start states (chains, n_v): binarised built-in **training** images with their one-hot
    labels, drawn with ``seed`` (the same for every sampler in a comparison).

    Training, not test, images: the ISL is evaluated on test images, and a chain started on one
    of them scores it near its own start (a sampler that stays put would gain up to ~4 nats on
    1,000 test images with 16 chains)."""
    d = load_mnist("builtin")
    idx = np.random.default_rng(seed).choice(len(d.y_train), size=chains, replace=False)
    x = binarize(d.x_train[idx]).astype(np.float32)
    if rbm.n_labels:
        x = np.concatenate([x, np.eye(rbm.n_labels, dtype=np.float32)[d.y_train[idx]]], 1)
    return x


def compare(rbm: RBM, tmap: TemperatureMap, base: Calibration, rhythm: Rhythm, *,
            duration_ms: float = 5000.0, chains: int = 4, seed: int = 0, read_T: float = 1.02,
            compensate: bool = True, baselines: bool = True, init_from_data: bool = True,
            isl_n: int | None = None, device: str = "cpu", synapse=None, progress=None,
            spiking: bool = True, equal_time: bool = True) -> dict:
    """Item 3: the oscillating network against constant noise of the same mean rate (mapped
    at that rate, T = 1), Gibbs and AST with the same budget (one sweep per tau_ref of
    biological time per chain). All start from the same data images when ``init_from_data``.
    ISL uses the same number of samples for every sampler (the smallest, or ``isl_n``).
    ``equal_time``: also Gibbs and AST given the oscillating run's wall time
    (``gibbs_equal_time``, ``ast_equal_time``; Gibbs thinned to the same samples per chain).
    ``spiking=False`` runs only the Gibbs and AST baselines (same starts, budget and seeds; their
    rows are what a full run gives when AST emits the fewest samples, as it does here)."""
    rhythm.validate()
    if not spiking and not baselines:
        raise ValueError("spiking=False runs only the baselines: it needs baselines=True")
    clf = feature_classifier()  # the harness's classifier, for every column
    x_test, prop = evaluation_data()
    ref = harness_data("auto")
    init = initial_images(rbm, chains, seed) if init_from_data else None
    bio_s = chains * duration_ms / 1000.0
    runs: dict[str, dict] = {}

    def say(msg):
        if progress:
            progress(msg)

    if spiking:
        runs["oscillation"] = run_lif(rbm, tmap, base, rhythm, duration_ms=duration_ms,
                                      chains=chains, seed=seed, read_T=read_T,
                                      compensate=compensate, synapse=synapse, device=device,
                                      keep_all=True, init=init)
        say(f"oscillation done ({runs['oscillation']['wall_s']:.0f} s)")
    if baselines and spiking:
        runs["constant"] = run_lif(rbm, tmap, base, Rhythm(rhythm.mean_hz),
                                   duration_ms=duration_ms,
                                   chains=chains, seed=seed, synapse=synapse, device=device,
                                   init=init)
        say(f"constant done ({runs['constant']['wall_s']:.0f} s)")
    if baselines:
        sweeps = int(duration_ms / TAU_REF_MS)
        for name in ("gibbs", "ast"):
            runs[name] = run_classical(rbm, name, sweeps, chains, seed, init=init)
        say("gibbs, ast done")
    n_common = isl_n or min(sum(map(len, r["visible"])) for r in runs.values())
    if baselines and spiking and equal_time:
        # the baselines given the oscillating run's wall time (same thread count, same process)
        ref_wall = runs["oscillation"]["wall_s"]
        for name in ("gibbs", "ast"):
            e = run_classical_equal_time(rbm, name, runs[name], ref_wall, seed, init=init)
            if e["visible"] is not None:
                runs[f"{name}_equal_time"] = e
        say("gibbs, ast at equal wall time done")
    out = {"parameters": {
        "mean_hz": rhythm.mean_hz, "amplitude_hz": rhythm.amplitude_hz,
        "frequency_hz": rhythm.frequency_hz, "trough_hz": rhythm.trough_hz,
        "temperature_max": float(tmap.with_reference(rhythm.trough_hz).temperature(
            rhythm.mean_hz + rhythm.amplitude_hz)) if rhythm.oscillating else 1.0,
        "duration_ms_per_chain": duration_ms, "chains": chains, "seed": seed,
        "read_T": read_T, "compensate_u0": compensate, "init_from_data": init_from_data,
        "isl_samples": n_common, "isl_beta": 0.95, "classifier": clf.meta,
        "temperature_map": tmap.source, "coupling_scales": [base.weight_scale_exc,
                                                           base.weight_scale_inh],
        "budget_sweeps_per_chain": int(duration_ms / TAU_REF_MS)},
        "samplers": {}}
    for name, r in runs.items():
        st = statistics(r["visible"], rbm, clf, x_test, prop,
                        bio_s if name in ("oscillation", "constant") else None, n_common, seed,
                        ref=ref)
        if "info" in r:
            st["info"] = r["info"]
        st["wall_s"] = r["wall_s"]
        out["samplers"][name] = st
    if baselines and spiking:
        c = out["samplers"]["constant"]["confident_switches_per_1000"]
        o = out["samplers"]["oscillation"]["confident_switches_per_1000"]
        out["ratio_confident_switches_per_1000"] = o / c if c else None
        cs = out["samplers"]["constant"]["confident_switches_per_s"]
        os_ = out["samplers"]["oscillation"]["confident_switches_per_s"]
        out["ratio_confident_switches_per_s"] = os_ / cs if cs else None
        out["isl_difference"] = (out["samplers"]["oscillation"]["isl"]
                                 - out["samplers"]["constant"]["isl"])
        c = out["samplers"]["constant"]["mode_switches_per_1000"]
        o = out["samplers"]["oscillation"]["mode_switches_per_1000"]
        out["mode_switches_oscillation_per_1000"] = o
        out["mode_switches_constant_per_1000"] = c
        out["ratio_mode_switches_per_1000"] = o / c if c else None
    if spiking:
        out["_oscillation_run"] = runs["oscillation"]
    return out
