"""Claims of the MNIST sampling experiments (docs/classical.md, docs/stp.md, docs/tempering.md):
``classical-mixing``, ``stp-classify``, ``stp-mixing``, ``stp-imbalance``, ``tempering``.

Every mixing claim runs through the one comparison harness (:mod:`lifsampling.comparison`):
same training-image starts, same burn-in fraction, the fixed MLP classifier and its metrics,
equal samples and equal wall time, raw per-seed results. The full runs use the 794-500 PCD RBM
(10 epochs on full MNIST, trained once and cached as ``<cache>/models/rbm_mnist_500_pcd10.npz``;
~15 min on 2 cores) and need full MNIST locally (``$LIFSAMPLING_DATA``); ``--quick`` trains a
100-hidden RBM on the built-in subset in seconds and runs the same computation scaled down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import Claim, ClaimConfig, register

QUICK_HIDDEN, QUICK_EPOCHS = 100, 4


def _threads() -> None:
    import torch

    torch.set_num_threads(1)


def _train_quick(x, y, epochs: int, seed: int = 0):
    """A 794-100 classification RBM trained by PCD on images x (uint8) with labels y."""
    import torch

    from ...boltzmann.train import TrainConfig, train_rbm
    from ...datasets import binarize, with_labels

    v = torch.from_numpy(with_labels(binarize(x), y))
    cfg = TrainConfig(n_hidden=QUICK_HIDDEN, epochs=epochs, batch_size=20, lr=0.05,
                      persistent=True, momentum=0.5, seed=seed)
    return train_rbm(v, cfg, n_labels=10, progress=False)[0]


@lru_cache(maxsize=2)
def _quick_rbm(seed: int = 0):
    """The quick claims' model: trained on the built-in subset in seconds."""
    from ...datasets import load_mnist

    ds = load_mnist("builtin")
    return _train_quick(ds.x_train, ds.y_train, QUICK_EPOCHS, seed)


def pcd_model_path() -> Path:
    from ...datasets import cache_dir

    return cache_dir() / "models" / "rbm_mnist_500_pcd10.npz"


def _pcd_rbm(progress: bool = False):
    """The headline 794-500 PCD RBM (docs/classical.md §1): loaded from the cache, or trained
    once (10 epochs, full MNIST) and cached."""
    from ...boltzmann.train import TrainConfig, load_rbm, save_rbm, train_rbm
    from ...datasets import binarize, load_mnist, with_labels

    path = pcd_model_path()
    if path.is_file():
        return load_rbm(path)[0]
    import torch

    ds = load_mnist("mnist", download=False)
    v = torch.from_numpy(with_labels(binarize(ds.x_train), ds.y_train))
    cfg = TrainConfig(n_hidden=500, epochs=10, batch_size=20, lr=0.05, persistent=True,
                      momentum=0.5, seed=0)
    rbm, hist = train_rbm(v, cfg, n_labels=10, progress=progress)
    save_rbm(path, rbm, cfg, data={"source": ds.provenance.get("source")}, history=hist)
    return rbm


def _model(config: ClaimConfig):
    return _quick_rbm() if config.quick else _pcd_rbm(config.progress)


def _data(config: ClaimConfig, proportions=None):
    from ...comparison import evaluation_data

    return evaluation_data("builtin" if config.quick else "mnist", n_test=500 if config.quick
                           else 1000, proportions=proportions)


# parameters a run of the harness claims may change (ClaimConfig.overrides, lifsampling sweep)
MIX_TUNABLE = ("samplers", "n_samples", "chains", "burn_in_fraction", "U", "tau_rec_ms",
               "pilot_ms")


def _mix_params(config: ClaimConfig, samplers, n_full: int = 1000) -> dict:
    """The harness claims' parameters; ``samplers`` may be overridden by a subset of the
    claim's own (a sweep over U x seeds of STP alone, say)."""
    from ...comparison import ComparisonConfig, SamplerOptions

    q = config.quick
    p = config.tuned({"samplers": list(samplers), "n_samples": 60 if q else n_full,
            "chains": 4, "seeds": config.seed_list(full=10, quick=3),
            "burn_in_fraction": 0.1, "U": 0.1, "tau_rec_ms": 280.0,
            "pilot_ms": 200.0 if q else 1000.0,
            "model": f"794-{QUICK_HIDDEN} PCD, built-in subset, {QUICK_EPOCHS} epochs" if q
            else "794-500 PCD, full MNIST, 10 epochs (cached)",
            "metrics": "comparison.sample_statistics (fixed MLP features)"},
        tunable=MIX_TUNABLE)
    extra = [n for n in p["samplers"] if n not in samplers]
    if extra or not p["samplers"] or len(set(p["samplers"])) != len(p["samplers"]):
        raise ValueError(f"parameter 'samplers' must be distinct names among "
                         f"{', '.join(samplers)}, got {p['samplers']!r}")
    # the harness validates the rest (n_samples >= 3, 0 <= burn_in_fraction < 1, 0 < U <= 1)
    ComparisonConfig(samplers=tuple(p["samplers"]), n_samples=p["n_samples"],
                     chains=p["chains"], seeds=tuple(p["seeds"]) or (0,),
                     burn_in_fraction=p["burn_in_fraction"],
                     options=SamplerOptions(U=p["U"], tau_rec_ms=p["tau_rec_ms"],
                                            pilot_ms=p["pilot_ms"])).validate()
    return p


def _mix(config: ClaimConfig, p: dict, rbm=None, data=None) -> dict:
    from ...calibration import load_calibration
    from ...comparison import ComparisonConfig, SamplerOptions, run_comparison

    _threads()
    rbm = rbm if rbm is not None else _model(config)
    cfg = ComparisonConfig(samplers=tuple(p["samplers"]), n_samples=p["n_samples"],
                           chains=p["chains"], seeds=tuple(p["seeds"]),
                           burn_in_fraction=p["burn_in_fraction"],
                           options=SamplerOptions(U=p["U"], tau_rec_ms=p["tau_rec_ms"],
                                                  pilot_ms=p["pilot_ms"],
                                                  device=config.device))
    needs_cal = any(s in ("stp", "lif") for s in cfg.samplers)
    return run_comparison(rbm, load_calibration("fast-membrane") if needs_cal else None, cfg,
                          ref=data or _data(config), progress=config.progress)


def _cell(res: dict, budget: str, name: str, key: str) -> float:
    return res["summary"][budget][name][key]["mean"]


def _per_seed(res: dict, name: str, key: str, budget: str = "equal_samples") -> list[dict]:
    out = []
    for r in res["per_seed"]:
        row = {"seed": r["seed"], "value": r[budget][name][key]}
        for b in ("equal_samples", "equal_time"):
            row[b] = {s: {k: st.get(k) for k in ("mode_switches_per_1000", "precision",
                                                  "recall", "fd", "fd_floor", "isl",
                                                  "class_histogram_tv", "confident_fraction",
                                                  "mean_pixel", "rhat", "wall_s")}
                      for s, st in r[b].items() if "skipped" not in st}
        out.append(row)
    return out


def _extras(res: dict, names, keys=("mode_switches_per_1000", "precision", "recall", "fd",
                                    "class_histogram_tv", "mean_pixel")) -> dict:
    ex = {}
    for budget in ("equal_samples", "equal_time"):
        for name in names:
            cell = res["summary"].get(budget, {}).get(name)
            if cell is None:
                continue
            for k in keys:
                ex[f"{budget}.{name}.{k}"] = cell[k]["mean"]
                ex[f"{budget}.{name}.{k}.ci95"] = cell[k]["ci95"]
    ex["fd_floor"] = _cell(res, "equal_samples", names[0], "fd_floor")
    return ex


# --------------------------------------------------------------------------- classical-mixing
CLASSICAL = ("gibbs", "ast", "pt")


def _classical_params(config):
    p = _mix_params(config, CLASSICAL)
    if "pt" not in p["samplers"]:
        raise ValueError("classical-mixing needs \"pt\" among its samplers (its figure and "
                         "the equal-time reference)")
    p["equal_time_reference"] = "pt (Gibbs and AST get PT's wall time)"
    return p


def _run_classical(config: ClaimConfig) -> dict:
    from ...comparison import ComparisonConfig, SamplerOptions, run_comparison

    _threads()
    p = _classical_params(config)
    cfg = ComparisonConfig(samplers=tuple(p["samplers"]), n_samples=p["n_samples"],
                           chains=p["chains"], seeds=tuple(p["seeds"]), reference="pt",
                           burn_in_fraction=p["burn_in_fraction"],
                           options=SamplerOptions(device=config.device))
    res = run_comparison(_model(config), None, cfg, ref=_data(config),
                         progress=config.progress)
    return {"figure": _cell(res, "equal_samples", "pt", "mode_switches_per_1000"),
            "per_seed": _per_seed(res, "pt", "mode_switches_per_1000"),
            "extras": {"statistic": "PT mode switches per 1,000 samples (runs of >= 3 "
                                    "confident samples), equal samples",
                       **_extras(res, tuple(p["samplers"]))},
            "raw": {"summary": res["summary"]}}


register(Claim(
    name="classical-mixing",
    summary="Gibbs / AST / PT on the PCD MNIST RBM: mode switches between confident runs",
    doc="docs/classical.md §3", reference=None, unit="switches per 1000 samples",
    run=_run_classical, parameters=_classical_params))


# --------------------------------------------------------------------------- stp-mixing
STP_SAMPLERS = ("stp", "lif", "gibbs", "ast", "pt")


def _stp_params(config):
    # quick: the spiking samplers and Gibbs (AST and PT are exercised by classical-mixing)
    p = _mix_params(config, STP_SAMPLERS[:3] if config.quick else STP_SAMPLERS)
    if "stp" not in p["samplers"]:
        raise ValueError("stp-mixing needs \"stp\" among its samplers (its figure)")
    return p


def _run_stp(config: ClaimConfig) -> dict:
    p = _stp_params(config)
    res = _mix(config, p)
    g = (_cell(res, "equal_samples", "gibbs", "mode_switches_per_1000")
         if "gibbs" in p["samplers"] else None)
    s = _cell(res, "equal_samples", "stp", "mode_switches_per_1000")
    return {"figure": s, "per_seed": _per_seed(res, "stp", "mode_switches_per_1000"),
            "extras": {"statistic": "LIF+STP mode switches per 1,000 samples (runs of >= 3 "
                                    "confident samples), equal samples",
                       "stp_over_gibbs": s / g if g else None,
                       **_extras(res, tuple(p["samplers"]))},
            "raw": {"summary": res["summary"]}}


register(Claim(
    name="stp-mixing",
    summary="LIF+STP vs LIF, Gibbs, AST, PT dreaming the PCD MNIST RBM: mode switches, "
            "precision, recall, FD at equal samples and equal time",
    doc="docs/stp.md §2", reference=None, unit="switches per 1000 samples", run=_run_stp,
    parameters=_stp_params))


# --------------------------------------------------------------------------- stp-imbalance
IMBALANCE_SAMPLERS = ("stp", "gibbs", "ast")


def _imb_params(config):
    p = _mix_params(config, IMBALANCE_SAMPLERS, n_full=500)
    if "stp" not in p["samplers"]:
        raise ValueError("stp-imbalance needs \"stp\" among its samplers (its figure)")
    p["class_weights"] = [1.0] * 5 + [0.1] * 5
    p["model"] = (f"794-{QUICK_HIDDEN} PCD on the imbalanced built-in subset, {QUICK_EPOCHS}"
                  " epochs" if config.quick else "794-500 PCD, imbalanced full MNIST, 5 epochs")
    return p


@lru_cache(maxsize=1)
def _quick_imbalanced():
    from ...datasets import class_proportions, imbalance, load_mnist

    ds = load_mnist("builtin")
    x, y = imbalance(ds.x_train, ds.y_train, [1.0] * 5 + [0.1] * 5, seed=0)
    return _train_quick(x, y, QUICK_EPOCHS + 4), class_proportions(y)


def _run_imb(config: ClaimConfig) -> dict:
    from ...datasets import cache_dir
    from ..stp_imbalance import train_imbalanced

    p = _imb_params(config)
    if config.quick:
        rbm, props = _quick_imbalanced()
    else:
        rbm, props = train_imbalanced(cache_dir() / "models" / "rbm_mnist_500_imbalanced.npz",
                                      data="mnist", epochs=5)
    res = _mix(config, p, rbm=rbm, data=_data(config, proportions=props))
    tv = {n: _cell(res, "equal_samples", n, "class_histogram_tv") for n in p["samplers"]}
    return {"figure": tv["stp"], "per_seed": _per_seed(res, "stp", "class_histogram_tv"),
            "extras": {"statistic": "TV distance of STP's class histogram to the training "
                                    "proportions, equal samples",
                       "training_proportions": [float(x) for x in np.round(props, 4)],
                       **_extras(res, tuple(p["samplers"]))},
            "raw": {"summary": res["summary"]}}


register(Claim(
    name="stp-imbalance",
    summary="digits 5-9 at 10 %: TV of the class histogram to the training proportions, "
            "STP vs Gibbs vs AST",
    doc="docs/stp.md §3", reference=None, unit="TV distance", run=_run_imb,
    parameters=_imb_params))


# --------------------------------------------------------------------------- stp-classify
_CLS_TUNABLE = ("n_test", "duration_ms", "burn_in_ms", "batch_size")


def _cls_params(config: ClaimConfig) -> dict:
    q = config.quick
    return config.tuned({
        "n_test": 300 if q else 10_000, "duration_ms": 60.0, "burn_in_ms": 10.0,
        "batch_size": 300 if q else 500, "clamping": "pixels folded into hidden leaks",
        "seeds": config.seed_list(full=10, quick=1),
        "seed_meaning": "background-noise seed of the spiking network; one model"},
        tunable=_CLS_TUNABLE)


def _run_cls(config: ClaimConfig) -> dict:
    from ...calibration import load_calibration
    from ..stp_classify import run_classification

    _threads()
    p = _cls_params(config)
    per_seed = []
    for seed in p["seeds"]:
        r = run_classification(_model(config), load_calibration("fast-membrane"),
                               data="builtin" if config.quick else "mnist",
                               n_test=p["n_test"], duration_ms=p["duration_ms"],
                               burn_in_ms=p["burn_in_ms"], batch_size=p["batch_size"],
                               seed=seed, device=config.device, progress=config.progress)
        per_seed.append({"seed": seed, "value": r["difference_pp"], **r})
    d = float(np.mean([r["value"] for r in per_seed]))
    return {"figure": d, "per_seed": per_seed, "extras": {
        "statistic": "spiking accuracy minus the RBM's (percentage points)",
        "accuracy": per_seed[0]["accuracy"], "rbm_accuracy": per_seed[0]["rbm_accuracy"],
        "agreement_with_rbm": per_seed[0]["agreement_with_rbm"],
        "n_test": per_seed[0]["n_test"]}}


register(Claim(
    name="stp-classify",
    summary="the spiking network classifies MNIST within 1 pp of its RBM",
    doc="docs/stp.md §1", reference=-0.78, unit="percentage points", run=_run_cls,
    parameters=_cls_params))


# --------------------------------------------------------------------------- fidelity
_FID_TUNABLE = ("images", "duration_ms", "phases", "pilot_images", "pilot_duration_ms",
                "iterations")


def _fid_params(config: ClaimConfig) -> dict:
    q = config.quick
    return config.tuned({
        "images": 20 if q else 200, "duration_ms": 400.0 if q else 2000.0, "phases": 8,
        "pilot_images": 20 if q else 200, "pilot_duration_ms": 200.0 if q else 400.0,
        "iterations": 2 if q else 3, "seeds": config.seed_list(full=10, quick=2),
        "seed_meaning": "background noise and clamp phases of the measurement; the correction "
                        "is fitted once (pilot seed 1000) on training images, the test images "
                        "are the first `images`"}, tunable=_FID_TUNABLE)


def _run_fid(config: ClaimConfig) -> dict:
    from ...calibration import load_calibration
    from ..spiking_fidelity import run_fidelity
    from . import mean_ci95

    _threads()
    p = _fid_params(config)
    rbm, cal = _model(config), load_calibration("fast-membrane")
    kw = dict(data="builtin" if config.quick else "mnist", images=p["images"],
              duration_ms=p["duration_ms"], phases=p["phases"], device=config.device)
    fit, correction = run_fidelity(rbm, cal, fit=True, folded=False, seed=p["seeds"][0],
                                   pilot_images=p["pilot_images"],
                                   pilot_duration_ms=p["pilot_duration_ms"],
                                   iterations=p["iterations"], **kw)

    def row(seed: int, r: dict) -> dict:  # the figure, and every hidden_/visible_ figure
        return {"seed": seed, "value": r["hidden_rms"],
                **{k: v for k, v in r.items() if k.startswith(("hidden_", "visible_"))}}

    per_seed = [row(p["seeds"][0], fit)]
    for seed in p["seeds"][1:]:
        r, _ = run_fidelity(rbm, cal, correction=correction, folded=False, seed=seed, **kw)
        per_seed.append(row(seed, r))
    extras = {"statistic": "RMS of p_LIF - sigma(b_h + W^T v) over hidden units x clamped "
                           "states, pixels and labels clamped by spiking, corrected network",
              "uncorrected_hidden_rms": fit["uncorrected"]["hidden_rms"],
              "uncorrected_visible_rms": fit["uncorrected"]["visible_rms"],
              "correction": correction.to_dict()}
    for k in ("hidden_gain", "hidden_offset", "visible_rms", "visible_gain", "visible_offset"):
        extras[k] = float(np.mean([r[k] for r in per_seed]))
        extras[f"{k}_ci95"] = mean_ci95([r[k] for r in per_seed])[1]
    return {"figure": float(np.mean([r["value"] for r in per_seed])), "per_seed": per_seed,
            "extras": extras}


register(Claim(
    name="fidelity",
    summary="clamped by spiking and corrected, the spiking RBM's hidden conditionals within "
            "RMS 0.03 of the RBM's",
    doc="docs/fidelity.md", reference=0.0249, unit="probability (RMS)", run=_run_fid,
    parameters=_fid_params))


# --------------------------------------------------------------------------- tempering
_TEMP_TUNABLE = ("trough_hz", "amplitude_hz", "frequency_hz", "duration_ms", "chains",
                 "read_T")


def _temp_params(config: ClaimConfig) -> dict:
    q = config.quick
    return config.tuned({
        "trough_hz": 3000.0, "amplitude_hz": 843.75, "frequency_hz": 10.0,
        "duration_ms": 2000.0 if q else 20_000.0, "chains": 4 if q else 16,
        "read_T": 1.02, "seeds": config.seed_list(full=10, quick=3, start=100),
        "baselines": "Gibbs and AST (comparison.TEMPERING_BETAS) at the same sweeps (one per "
                     "10 ms of biological time) and at the oscillating run's wall time",
        "note": "seeds 100+ are fresh: the cell (T <= 1.25 @ 10 Hz) was chosen on seeds 0-35"},
        tunable=_TEMP_TUNABLE)


def _temp_setup(config: ClaimConfig, p: dict):
    """The tempering claims' model, calibration, rhythm and temperature map."""
    from ...calibration import load_calibration
    from ...temperature import theory_temperature_map
    from ..tempering_mnist import Rhythm

    _threads()
    rbm = _model(config)
    base = load_calibration("fast-membrane")
    rhythm = Rhythm(p["trough_hz"] + p["amplitude_hz"], p["amplitude_hz"], p["frequency_hz"])
    peak = rhythm.mean_hz + rhythm.amplitude_hz
    cal_rate = float(base.noise.rates_at(0.0)[0])
    rates = sorted({rhythm.trough_hz, rhythm.mean_hz, peak, 0.5 * (rhythm.trough_hz + peak),
                    cal_rate})
    tmap = theory_temperature_map(rates, reference_rate_hz=rhythm.trough_hz,
                                  neuron=base.neuron, noise=base.noise
                                  ).anchored(cal_rate, base.u0_mV, base.alpha_mV)
    return rbm, base, rhythm, tmap


_ROW_KEYS = ("mode_switches_per_1000", "precision", "recall", "fd", "isl",
             "confident_fraction", "mean_pixel", "samples", "wall_s")


def _temp_rows(r: dict) -> dict:
    return {n: {k: s.get(k) for k in _ROW_KEYS} for n, s in r["samplers"].items()}


def _row_means(per_seed: list[dict]) -> dict:
    """``<sampler>.<key>``: the mean over the seeds that have the row (an equal-time AST run
    can be empty), with ``.ci95`` beside it."""
    from . import mean_ci95

    out = {}
    names = list(dict.fromkeys(n for r in per_seed for n in r["samplers"]))
    for n in names:
        for k in ("mode_switches_per_1000", "precision", "recall", "fd", "isl", "wall_s"):
            vals = [r["samplers"][n][k] for r in per_seed if n in r["samplers"]]
            vals = [v for v in vals if v is not None]
            if vals:
                out[f"{n}.{k}"], out[f"{n}.{k}.ci95"] = mean_ci95(vals)
    return out


def _temp_per_seed(config: ClaimConfig, p: dict, value, spiking: bool = True) -> list[dict]:
    """One :func:`~lifsampling.experiments.tempering_mnist.compare` per seed: its rows and the
    seed's figure ``value(result)``."""
    from ..tempering_mnist import compare

    rbm, base, rhythm, tmap = _temp_setup(config, p)
    per_seed = []
    for seed in p["seeds"]:
        r = compare(rbm, tmap, base, rhythm, duration_ms=p["duration_ms"], chains=p["chains"],
                    seed=seed, read_T=p["read_T"], device=config.device, spiking=spiking)
        r.pop("_oscillation_run", None)
        per_seed.append({"seed": seed, "value": value(r), "samplers": _temp_rows(r)})
    return per_seed


def _temp_result(per_seed: list[dict], statistic: str) -> dict:
    return {"figure": float(np.mean([r["value"] for r in per_seed])), "per_seed": per_seed,
            "extras": {"statistic": statistic, **_row_means(per_seed)}}


def _run_temp(config: ClaimConfig) -> dict:
    per_seed = _temp_per_seed(config, _temp_params(config), lambda r: (
        r["mode_switches_oscillation_per_1000"] - r["mode_switches_constant_per_1000"]))
    return _temp_result(per_seed, "oscillation minus constant noise: mode switches per 1,000 "
                                  "samples (runs of >= 3 confident samples)")


register(Claim(
    name="tempering",
    summary="a 10 Hz oscillating background (T <= 1.25) vs constant noise on the PCD RBM: "
            "mode switches and quality (fresh seeds)",
    doc="docs/tempering.md §3", reference=None, unit="switches per 1000 samples",
    run=_run_temp, parameters=_temp_params))


# --------------------------------------------------------------------------- tempering-baselines
def _base_params(config: ClaimConfig) -> dict:
    p = _temp_params(config)
    if config.quick and "duration_ms" not in config.overrides:
        # the full budget (2,000 sweeps per chain) costs seconds on the quick RBM; at the
        # quick tempering claim's 200, AST's 20-level ladder emits too few beta = 1 samples
        p["duration_ms"] = 20_000.0
    p["baselines"] = ("Gibbs and AST (comparison.TEMPERING_BETAS, 20 levels) at the tempering "
                      "claim's budget: one sweep per 10 ms of its biological time per chain, "
                      "same starts and seeds; no spiking runs, so no equal-time rows")
    return p


def _run_base(config: ClaimConfig) -> dict:
    per_seed = _temp_per_seed(config, _base_params(config),
                              lambda r: r["samplers"]["ast"]["mode_switches_per_1000"],
                              spiking=False)
    if any(r["value"] is None for r in per_seed):
        raise RuntimeError("an AST chain emitted too few beta = 1 samples to count mode "
                           "switches; give a longer duration_ms")
    return _temp_result(per_seed, "AST mode switches per 1,000 beta = 1 samples (runs of >= 3 "
                                  "confident samples) at the tempering budget")


register(Claim(
    name="tempering-baselines",
    summary="the Gibbs and AST rows of the tempering comparison (AST on the one 20-level "
            "ladder), same budget, starts and fresh seeds as tempering",
    doc="docs/tempering.md §3a", reference=None, unit="switches per 1000 samples",
    run=_run_base, parameters=_base_params))
