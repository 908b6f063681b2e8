r"""The seed-replicated tempering study on an MNIST classification RBM (docs/tempering.md §3–6):
oscillating balanced background against constant noise of the same mean rate, Gibbs and AST.

**Conditions** (:func:`conditions`, by name):

* ``osc_T<T>_<f>hz`` — nu(t) between a 3 kHz trough (the fast-membrane calibration's rate, T = 1)
  and a peak at nu0 T², i.e. T(t) <= ``T`` (:class:`~.tempering_mnist.Rhythm`), at ``f`` Hz,
  for T in {1.1, 1.25, 1.5, 2} and f in {1, 4, 10, 30, 80}; each has a constant-noise partner
  ``const_<mean>`` at its mean rate nu0 (1 + T²)/2 (e.g. ``const_3k844`` = 3.84375 kHz);
* ``const_3k``, ``const_15k``, ``osc_T3_4hz``; ``hi_*``: trough 10 kHz;
* ``stp_<name>``: the same with Tsodyks–Markram synapses (U, tau_rec of the config), weights
  renormalised on a pilot run of this model and neuron through the harness's sampler registry
  (:func:`lifsampling.comparison.make_sampler` ``"stp"`` → :func:`~lifsampling.spiking_rbm.
  renormalise_stp`), once per study;
* ``gibbs``, ``ast`` — the registry's samplers at the same budget, one sweep per tau_ref =
  10 ms of biological time; AST on the one ladder :data:`~lifsampling.comparison.
  TEMPERING_BETAS`, exactly that many steps (``ASTSampler.sample_budget``), each chain keeping
  what it emitted at beta = 1.

Spiking runs use :func:`~.tempering_mnist.run_lif` (mapped at the trough rate with the HCS
temperature map anchored to the calibration, u0 drift compensated in the leaks, samples read
where T <= ``read_T``, constant noise read every 10 ms). Every sampler of a seed starts from the
same training images (:func:`~.tempering_mnist.initial_images`).

**Statistics** (:func:`~.tempering_mnist.statistics` with ``ref=``): the harness suite
(:func:`lifsampling.comparison.sample_statistics`: mode switches between runs of >= 3 confident
samples, k-NN precision/recall, FD, validated ISL, R̂) and the earlier confident-switch counts,
all from the harness's one fixed classifier; means with bootstrap 95 % intervals over seeds
(:func:`~lifsampling.comparison.mean_ci95`), and for each oscillation the per-seed (paired)
difference to its constant-noise partner and to that partner read at the oscillation's
trough times (the matched read-out, row ``<const>@<osc>``).

**Files** in ``out_dir``: ``<condition>_s<seed>.npz`` (raw samples, written as each finishes),
``<row>_s<seed>.json`` (its statistics), ``stp_synapse.json``, ``study.json`` (the summary).
Existing per-seed files made with the same configuration are reused, so an interrupted study
resumes where it stopped; files of another configuration are refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..comparison import TEMPERING_BETAS, SamplerOptions, make_sampler, mean_ci95
from . import tempering_mnist as tm

#: The trough (mapping) rate of the named conditions: the fast-membrane calibration's 3 kHz.
TROUGH_HZ = 3000.0
HIGH_TROUGH_HZ = 10000.0
GRID_T_PEAK = (1.1, 1.25, 1.5, 2.0)
GRID_F_HZ = (1.0, 4.0, 10.0, 30.0, 80.0)
#: Rates of the temperature map (Hz): HCS theory for the neuron, anchored to its calibration.
MAP_RATES_HZ = (1000.0, 2000.0, 3000.0, 4000.0, 4875.0, 5000.0, 6000.0, 7500.0, 10000.0,
                12000.0, 15000.0, 20000.0, 25000.0, 30000.0, 40000.0, 50000.0)
#: State recording interval up to 4 Hz (ms); 1 ms above, so that the recorded time nearest a
#: trough centre is within 1.5 % of a period of it (T <= 1.001 there).
SLOW_RECORD_MS = 5.0
SUMMARY_KEYS = ("mode_switches_per_1000", "precision", "recall", "fd", "isl", "isl_beta_0.95",
                "confident_fraction", "mean_pixel", "rhat", "confident_switches_per_1000",
                "confident_subsequence_switches_per_1000",
                "confident_subsequence_switches_per_s", "classes_visited_per_chain",
                "class_histogram_tv", "samples")
PAIRED_KEYS = ("mode_switches_per_1000", "isl", "precision", "fd", "mean_pixel")
MEMORY_LIMIT_BYTES = 8 * 2**30
SCHEMA = "lifsampling.tempering_study/1"


# --------------------------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Condition:
    """One sampler of the study: ``kind`` "lif" (with ``rhythm``, STP if ``stp``), "gibbs" or
    "ast"; ``constant`` names the constant-noise condition at an oscillation's mean rate."""

    name: str
    kind: str
    rhythm: tm.Rhythm | None = None
    stp: bool = False
    constant: str | None = None

    @property
    def oscillating(self) -> bool:
        return self.rhythm is not None and self.rhythm.oscillating

    def describe(self) -> str:
        if self.kind != "lif":
            return f"{self.kind} (one sweep per 10 ms)"
        s = self.rhythm.label()
        if self.oscillating:
            t = math.sqrt((self.rhythm.mean_hz + self.rhythm.amplitude_hz) / self.rhythm.trough_hz)
            s += f", T <= {t:.3g}"
        return s + (" + STP" if self.stp else "")


def _rhythm(trough_hz: float, t_peak: float, f_hz: float) -> tm.Rhythm:
    """Trough at ``trough_hz`` (the mapping rate), peak at trough T_peak²."""
    a = round(0.5 * trough_hz * (t_peak**2 - 1.0), 6)
    return tm.Rhythm(trough_hz + a, a, f_hz)


def _const_name(rate_hz: float) -> str:
    """``const_3k844`` for 3843.75 Hz (kHz to 3 decimals, 'k' for the point)."""
    return "const_" + f"{rate_hz / 1000:.3f}".rstrip("0").rstrip(".").replace(".", "k")


def _build_conditions() -> dict[str, Condition]:
    base: dict[str, Condition] = {}

    def lif(name, rhythm, constant=None):
        base[name] = Condition(name, "lif", rhythm, constant=constant)

    lif("const_3k", tm.Rhythm(TROUGH_HZ))
    lif("const_15k", tm.Rhythm(15000.0))
    lif("osc_T3_4hz", _rhythm(TROUGH_HZ, 3.0, 4.0))
    for t in GRID_T_PEAK:
        mean = TROUGH_HZ * (1.0 + t**2) / 2.0
        lif(_const_name(mean), tm.Rhythm(mean))
        for f in GRID_F_HZ:
            lif(f"osc_T{t:g}_{f:g}hz", _rhythm(TROUGH_HZ, t, f), constant=_const_name(mean))
    hi_mean = HIGH_TROUGH_HZ * (1.0 + 1.25**2) / 2.0
    lif("hi_const_10k", tm.Rhythm(HIGH_TROUGH_HZ))
    lif("hi_const_12k813", tm.Rhythm(hi_mean))
    lif("hi_const_25k", tm.Rhythm(25000.0))
    lif("hi_osc_T1.25_10hz", _rhythm(HIGH_TROUGH_HZ, 1.25, 10.0), constant="hi_const_12k813")
    lif("hi_osc_T2_1hz", _rhythm(HIGH_TROUGH_HZ, 2.0, 1.0))
    lif("hi_osc_T2_4hz", _rhythm(HIGH_TROUGH_HZ, 2.0, 4.0))
    out = dict(base)
    for name, c in base.items():
        out[f"stp_{name}"] = replace(c, name=f"stp_{name}", stp=True,
                                     constant=c.constant and f"stp_{c.constant}")
    out["gibbs"] = Condition("gibbs", "gibbs")
    out["ast"] = Condition("ast", "ast")
    return out


_CONDITIONS = _build_conditions()


def conditions() -> dict[str, Condition]:
    """Every condition the study knows, by name."""
    return dict(_CONDITIONS)


def record_ms(rhythm: tm.Rhythm) -> float:
    """State recording interval (ms) of a spiking run (see :data:`SLOW_RECORD_MS`)."""
    return 1.0 if rhythm.oscillating and rhythm.frequency_hz > 4.0 else SLOW_RECORD_MS


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TemperingStudyConfig:
    """A tempering study.

    ``model``: an MNIST classification RBM file (784 pixels + labels, from ``train-rbm``), or
    None for the built-in quick model of the ``reproduce --quick`` claims (794-100 PCD on the
    built-in subset, trained in seconds). ``conditions``: names from :func:`conditions`.
    ``seeds``: one replicate each (start images and noise). ``chains`` × ``duration_ms`` (ms of
    biological time per chain, after ``burn_in_ms``) per condition and seed; Gibbs/AST get
    ``duration_ms / 10 ms`` sweeps. ``read_T``: trough read-out threshold on T(t).
    ``data``/``n_test``: the reference images of the metrics (``comparison.evaluation_data``);
    ``isl_samples``: the fixed-bandwidth ISL's sample count per seed. ``calibration``: a
    shipped preset name or a calibration JSON (``calibration.load_calibration``; None:
    ``spiking_rbm.default_calibration``). STP: ``stp_U``,
    ``stp_tau_rec_ms`` (ms), renormalised on a ``stp_pilot_ms`` pilot. ``backend``/``device``:
    the engine's.
    """

    model: str | None = None
    conditions: tuple[str, ...] = ("const_3k844", "osc_T1.25_10hz", "gibbs", "ast")
    seeds: tuple[int, ...] = tuple(range(10))
    chains: int = 16
    duration_ms: float = 20_000.0
    burn_in_ms: float = 200.0
    read_T: float = 1.02
    data: str = "auto"
    n_test: int = 1000
    isl_samples: int = 1280
    calibration: str | None = None
    stp_U: float = 0.1
    stp_tau_rec_ms: float = 280.0
    stp_pilot_ms: float = 1000.0
    backend: str = "auto"
    device: str = "cpu"

    def validate(self) -> None:
        """Raise ValueError saying what is wrong and what is allowed."""
        known = _CONDITIONS
        if isinstance(self.conditions, str) or not self.conditions:
            raise ValueError("conditions must be a non-empty list of condition names")
        bad = [c for c in self.conditions if c not in known]
        if bad:
            raise ValueError(f"unknown condition(s) {', '.join(map(repr, bad))}; known: "
                             "gibbs, ast, const_3k844, osc_T1.25_10hz, ... (list them with "
                             "`lifsampling tempering-study --list`)")
        if len(set(self.conditions)) != len(self.conditions):
            raise ValueError(f"conditions repeat a name: {list(self.conditions)}")
        if isinstance(self.seeds, str) or not self.seeds:
            raise ValueError("seeds must be a non-empty list of integers")
        if not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 0
                   for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0, got {list(self.seeds)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat a value: {list(self.seeds)}")
        if isinstance(self.chains, bool) or not isinstance(self.chains, int | np.integer) \
                or self.chains < 1:
            raise ValueError(f"chains must be a whole number >= 1, got {self.chains!r}")
        for name in ("duration_ms", "read_T", "stp_U", "stp_tau_rec_ms", "stp_pilot_ms",
                     "burn_in_ms"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if not self.duration_ms > 0:
            raise ValueError(f"duration_ms must be > 0, got {self.duration_ms}")
        if self.burn_in_ms < 0:
            raise ValueError(f"burn_in_ms must be >= 0, got {self.burn_in_ms}")
        if not self.read_T >= 1.0:
            raise ValueError(f"read_T must be >= 1 (the trough is T = 1), got {self.read_T}")
        if not 0 < self.stp_U <= 1 or not self.stp_tau_rec_ms > 0 or not self.stp_pilot_ms > 0:
            raise ValueError("need 0 < stp_U <= 1, stp_tau_rec_ms > 0 and stp_pilot_ms > 0")
        sweeps = self.duration_ms / tm.TAU_REF_MS
        if any(known[c].kind != "lif" for c in self.conditions) and sweeps < 2:
            raise ValueError(f"duration_ms {self.duration_ms:g} gives Gibbs/AST fewer than 2 "
                             f"sweeps (one per {tm.TAU_REF_MS:g} ms); use >= "
                             f"{2 * tm.TAU_REF_MS:g} ms")
        for c in self.conditions:
            cond = known[c]
            if cond.oscillating:
                period = 1000.0 / cond.rhythm.frequency_hz
                if self.duration_ms < 3 * period:
                    raise ValueError(f"duration_ms {self.duration_ms:g} holds fewer than 3 "
                                     f"periods of {c} ({period:g} ms each); use >= "
                                     f"{3 * period:g} ms")
            elif cond.kind == "lif" and self.duration_ms < 3 * tm.TAU_REF_MS:
                raise ValueError(f"duration_ms must be >= {3 * tm.TAU_REF_MS:g} ms")
        if not isinstance(self.n_test, int) or self.n_test < 10:
            raise ValueError(f"n_test must be an integer >= 10, got {self.n_test!r}")
        if not isinstance(self.isl_samples, int) or self.isl_samples < 2:
            raise ValueError(f"isl_samples must be an integer >= 2, got {self.isl_samples!r}")
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu", "cuda")
                                                    or self.device.startswith("cuda:")):
            raise ValueError(f"device must be auto, cpu, cuda or cuda:k, got {self.device!r}")
        from ..engine import BACKENDS

        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got "
                             f"{self.backend!r}")
        if not isinstance(self.data, str) or not self.data:
            raise ValueError(f"data must be auto, builtin, mnist or a folder, got {self.data!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conditions"], d["seeds"] = list(self.conditions), [int(s) for s in self.seeds]
        return d


def quick_config(**overrides) -> TemperingStudyConfig:
    """A study that runs in a few minutes on 2 CPU cores: the built-in quick model and reference
    images, T <= 1.25 @ 4 Hz against constant noise of its mean rate, 5 seeds x 4 chains x
    10 s. On this small, fast-mixing model the 4 Hz cell shows the direction of the PCD
    model's table (the 10 Hz cell of docs/tempering.md §3 does not: its trough samples, 100 ms
    apart, rarely form runs of 3 confident samples); the cell was picked on seeds 0-2 and the
    quick seeds 10-14 are fresh."""
    cfg = TemperingStudyConfig(model=None, conditions=("const_3k844", "osc_T1.25_4hz"),
                               seeds=(10, 11, 12, 13, 14), chains=4, duration_ms=10_000.0,
                               data="builtin", n_test=500, isl_samples=500)
    return replace(cfg, **overrides)


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def load_model(config: TemperingStudyConfig):
    """(rbm, description) of ``config.model``; refuses anything but an MNIST classification
    RBM."""
    if config.model is None:
        from .reproduce.sampling import QUICK_EPOCHS, QUICK_HIDDEN, _quick_rbm

        rbm, what = _quick_rbm(), f"quick: 794-{QUICK_HIDDEN} PCD, built-in subset, " \
                                 f"{QUICK_EPOCHS} epochs"
    else:
        from ..boltzmann.train import load_rbm

        path = Path(config.model)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        rbm, what = load_rbm(path)[0], str(path)
    if rbm.n_pixels != 784 or rbm.n_labels != 10:
        raise ValueError(f"{what} has {rbm.n_pixels} pixels and {rbm.n_labels} label units; an "
                         "MNIST classification RBM (784 pixels + 10 labels) is needed")
    return rbm, what


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float32)).tobytes())
    return h.hexdigest()[:16]


def _calibration(config: TemperingStudyConfig):
    from ..calibration import load_calibration
    from ..spiking_rbm import default_calibration

    return default_calibration() if config.calibration is None else \
        load_calibration(config.calibration)


def temperature_map(base):
    """HCS temperature map of ``base``'s neuron and noise, anchored to ``base`` at its rate."""
    from ..temperature import theory_temperature_map

    rate = float(base.noise.rates_at(0.0)[0])
    tmap = theory_temperature_map(sorted(set(MAP_RATES_HZ) | {rate}), reference_rate_hz=rate,
                                  neuron=base.neuron, noise=base.noise)
    return tmap.anchored(rate, base.u0_mV, base.alpha_mV)


def _run_key(config: TemperingStudyConfig, cond: Condition, model_digest: str, base,
             synapse) -> dict:
    """What a per-seed file must have been made with to be reused."""
    key = {"condition": cond.name, "model": model_digest, "chains": int(config.chains),
           "duration_ms": float(config.duration_ms)}
    if cond.kind == "lif":
        key.update(burn_in_ms=float(config.burn_in_ms), read_T=float(config.read_T),
                   backend=config.backend, device=config.device,
                   calibration=_digest([base.u0_mV, base.alpha_mV, base.weight_scale_exc,
                                        base.weight_scale_inh]),
                   synapse=synapse.to_dict() if (cond.stp and synapse is not None) else None)
    elif cond.kind == "ast":
        key["betas"] = [TEMPERING_BETAS[0], TEMPERING_BETAS[-1], len(TEMPERING_BETAS)]
    return key


def _same(a: dict, b: dict) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _file(out_dir: Path, name: str, seed: int, ext: str) -> Path:
    return out_dir / f"{name}_s{seed}.{ext}"


def _read_run(path: Path) -> tuple[np.ndarray | list[np.ndarray], dict, np.ndarray]:
    from ..io import read_npz

    d = read_npz(path, "tempering-study run")
    try:
        meta = json.loads(str(d["meta"]))
        vis, times = d["visible"], d["times_ms"]
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a tempering-study run ({exc})") from None
    if meta.get("kind") == "ast":  # ragged chains, stored concatenated
        vis = np.split(vis, np.cumsum(meta["counts"])[:-1])
    return vis, meta, times


def _existing_ok(path: Path, key: dict) -> bool:
    """True if ``path`` holds a run made with ``key``; ValueError if it holds another one."""
    if not path.is_file():
        return False
    _, meta, _ = _read_run(path)
    if not _same(meta.get("key", {}), key):
        diff = sorted(k for k in key if meta.get("key", {}).get(k) != key[k])
        raise ValueError(f"{path} was made with another configuration (differs in "
                         f"{', '.join(diff) or 'its keys'}); use another output folder or "
                         "remove it")
    return True


def _synapse_key(config, base, model_digest: str) -> dict:
    return {"model": model_digest, "U": config.stp_U, "tau_rec_ms": config.stp_tau_rec_ms,
            "pilot_ms": config.stp_pilot_ms, "device": config.device,
            "calibration": _digest([base.u0_mV, base.alpha_mV])}


def _cached_synapse(config, base, model_digest: str, out_dir: Path):
    """The STP synapse of ``out_dir/stp_synapse.json`` (None if absent); ValueError if it was
    renormalised for another configuration."""
    from ..io import read_json
    from ..params import SynapseParams

    path = out_dir / "stp_synapse.json"
    if not path.is_file():
        return None
    d = read_json(path, "STP synapse file")
    if not _same(d.get("key", {}), _synapse_key(config, base, model_digest)):
        raise ValueError(f"{path} was renormalised for another configuration; use another "
                         "output folder or remove it")
    return SynapseParams(**d["synapse"])


def _stp_synapse(config, rbm, base, model_digest: str, out_dir: Path, say):
    """Renormalised STP synapse from the harness registry (``make_sampler("stp")``: the pilot
    run of :func:`~lifsampling.spiking_rbm.renormalise_stp`), written to
    ``stp_synapse.json``."""
    from ..io import write_json

    say(f"renormalising STP (U {config.stp_U:g}, tau_rec {config.stp_tau_rec_ms:g} ms) on a "
        f"{config.stp_pilot_ms:g} ms pilot")
    opts = SamplerOptions(U=config.stp_U, tau_rec_ms=config.stp_tau_rec_ms,
                          pilot_ms=config.stp_pilot_ms, device=config.device)
    sampler, info = make_sampler("stp", rbm, base, opts, seed=0)
    write_json(out_dir / "stp_synapse.json",
               {"key": _synapse_key(config, base, model_digest),
                "synapse": sampler.synapse.to_dict(), "info": info})
    return sampler.synapse


def _check_memory(config: TemperingStudyConfig, rbm) -> None:
    lif = [_CONDITIONS[c] for c in config.conditions if _CONDITIONS[c].kind == "lif"]
    if not lif:
        return
    dt = min(record_ms(c.rhythm) if c.oscillating else tm.TAU_REF_MS for c in lif)
    need = config.chains * (config.duration_ms / dt) * rbm.n_visible * 4
    if need > MEMORY_LIMIT_BYTES:
        raise ValueError(f"recording {config.chains} chains x {config.duration_ms:g} ms every "
                         f"{dt:g} ms needs ~{need / 2**30:.1f} GiB; use fewer chains or a "
                         f"shorter duration (limit {MEMORY_LIMIT_BYTES / 2**30:g} GiB)")


def _simulate(config, cond: Condition, seed: int, rbm, base, tmap, synapse, init) -> tuple:
    """(visible (chains, S, n_v) uint8 or concatenated ragged, times_ms, meta extras)."""
    sweeps = int(config.duration_ms / tm.TAU_REF_MS)
    if cond.kind == "lif":
        r = tm.run_lif(rbm, tmap, base, cond.rhythm, duration_ms=config.duration_ms,
                       chains=config.chains, seed=seed, burn_in_ms=config.burn_in_ms,
                       read_T=config.read_T, synapse=synapse if cond.stp else None,
                       device=config.device, init=init, record_ms=record_ms(cond.rhythm),
                       backend=config.backend)
        rh = cond.rhythm
        return r["visible"], np.asarray(r["times_ms"]), {
            "mean_hz": rh.mean_hz, "amplitude_hz": rh.amplitude_hz,
            "frequency_hz": rh.frequency_hz, "trough_hz": rh.trough_hz,
            "u0_mV": r["u0_mV"], "alpha_mV": r["alpha_mV"]}
    import torch

    model = rbm.to(dtype=torch.float32)
    sampler, _ = make_sampler(cond.kind, model, None, SamplerOptions(), seed)
    x0 = torch.as_tensor(init)
    if cond.kind == "gibbs":
        s = sampler.sample(model, sweeps, chains=config.chains, seed=seed, init=x0)
        vis = s[..., : rbm.n_visible].to(torch.uint8).numpy()
        extra = {"sweeps": sweeps}
    else:
        per_chain = sampler.sample_budget(model, sweeps, chains=config.chains, seed=seed,
                                          init=x0)
        vis = torch.cat(per_chain)[:, : rbm.n_visible].to(torch.uint8).numpy()
        extra = {"sweeps": sweeps, "counts": [len(c) for c in per_chain]}
    info = {k: v for k, v in sampler.info.items() if k != "log_weights"}
    return vis, np.zeros(0), {**extra, "info": info}


def run(config: TemperingStudyConfig, out_dir: str | Path,
        progress: Callable[[str], None] | None = None) -> dict:
    """Run every condition for every seed (reusing finished per-seed files), then summarise
    (:func:`summarise`) and write ``study.json``. ``progress(message)`` hears about each run."""
    from ..io import check_output_path, write_json, write_npz

    config.validate()
    out_dir = check_output_path(out_dir, "dir", "output folder")

    def say(msg: str) -> None:
        if progress:
            progress(msg)

    from ..comparison import evaluation_data
    from ..engine import resolve_device

    resolve_device(config.device)  # fail before any file is written
    ref = evaluation_data(config.data, n_test=config.n_test)
    rbm, _ = load_model(config)
    _check_memory(config, rbm)
    model_digest = _digest(rbm.W, rbm.b_v, rbm.b_h)
    base = _calibration(config)
    conds = [_CONDITIONS[c] for c in config.conditions]
    out_dir.mkdir(parents=True, exist_ok=True)
    synapse = _cached_synapse(config, base, model_digest, out_dir)
    for cond in conds:  # refuse a folder of another configuration before any work
        if cond.stp and synapse is None:
            continue  # checked once the pilot has set the synapse
        for seed in config.seeds:
            _existing_ok(_file(out_dir, cond.name, seed, "npz"),
                         _run_key(config, cond, model_digest, base, synapse))
    if synapse is None and any(c.stp for c in conds):
        synapse = _stp_synapse(config, rbm, base, model_digest, out_dir, say)
    tmap = temperature_map(base) if any(c.kind == "lif" for c in conds) else None
    total, done = len(conds) * len(config.seeds), 0
    for seed in config.seeds:
        init = tm.initial_images(rbm, config.chains, int(seed))
        for cond in conds:
            done += 1
            path = _file(out_dir, cond.name, seed, "npz")
            key = _run_key(config, cond, model_digest, base, synapse)
            if _existing_ok(path, key):
                say(f"[{done}/{total}] {cond.name} seed {seed}: reused {path.name}")
                continue
            t0 = time.perf_counter()
            vis, times, extra = _simulate(config, cond, int(seed), rbm, base, tmap, synapse,
                                          init)
            meta = {"kind": cond.kind, "key": key, "seed": int(seed),
                    "chains": config.chains, "duration_ms": config.duration_ms,
                    "wall_s": time.perf_counter() - t0, **extra}
            write_npz(path, visible=np.asarray(vis, dtype=np.uint8), times_ms=times,
                      meta=np.array(json.dumps(meta, default=float)))
            say(f"[{done}/{total}] {cond.name} seed {seed}: {meta['wall_s']:.1f} s")
    result = summarise(config, out_dir, progress=progress, rbm=rbm, ref=ref)
    write_json(out_dir / "study.json", result)
    return result


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------
def _matched(out_dir: Path, const: str, osc: str, seed: int) -> tuple[np.ndarray, dict]:
    """Constant-noise run ``const`` read only at the recorded times nearest to the trough
    samples of oscillation run ``osc`` (same spacing and count: the matched read-out)."""
    vis, meta, times = _read_run(_file(out_dir, const, seed, "npz"))
    _, _, t_osc = _read_run(_file(out_dir, osc, seed, "npz"))
    idx = np.unique(np.clip(np.floor((t_osc - times[0]) / (times[1] - times[0]) + 1e-9)
                            .astype(int), 0, len(times) - 1))
    return vis[:, idx], dict(meta, matched_to=osc)


def _rows(config: TemperingStudyConfig) -> list[str]:
    """The table's rows: the conditions, and ``<const>@<osc>`` for every oscillation whose
    constant-noise partner is in the study."""
    rows = list(config.conditions)
    for c in config.conditions:
        partner = _CONDITIONS[c].constant
        if partner in config.conditions:
            rows.append(f"{partner}@{c}")
    return rows


def _stats_key(config: TemperingStudyConfig, run_meta: list[dict]) -> dict:
    return {"runs": [m["key"] for m in run_meta], "data": config.data, "n_test": config.n_test,
            "isl_samples": config.isl_samples}


def summarise(config: TemperingStudyConfig, out_dir: str | Path,
              progress: Callable[[str], None] | None = None, *, rbm=None, ref=None) -> dict:
    """Statistics of every (row, seed) whose runs are in ``out_dir`` (each cached as
    ``<row>_s<seed>.json``), their means with bootstrap 95 % intervals over seeds, and the
    paired per-seed differences of each oscillation to its constant-noise partner and to the
    matched read-out. ``rbm``/``ref``: the model and reference data when already loaded."""
    from ..comparison import evaluation_data
    from ..io import read_json, write_json
    from ..quality import feature_classifier

    config.validate()
    out_dir = Path(out_dir)
    ctx: dict = {}

    def context():
        if not ctx:
            ctx["rbm"] = rbm if rbm is not None else load_model(config)[0]
            ctx["ref"] = ref if ref is not None else evaluation_data(config.data,
                                                                     n_test=config.n_test)
            ctx["clf"] = feature_classifier()
        return ctx

    per_seed: dict[str, dict[int, dict]] = {}
    for row in _rows(config):
        names = row.split("@")
        for seed in config.seeds:
            runs = [_file(out_dir, n, seed, "npz") for n in names]
            if not all(p.is_file() for p in runs):
                continue
            metas = [_read_run(p)[1] for p in runs]
            skey = _stats_key(config, metas)
            spath = _file(out_dir, row, seed, "json")
            if spath.is_file():
                cached = read_json(spath, "tempering-study statistics")
                if _same(cached.get("key", {}), skey):
                    per_seed.setdefault(row, {})[int(seed)] = cached["stats"]
                    continue
            if "@" in row:
                vis, meta = _matched(out_dir, names[0], names[1], seed)
            else:
                vis, meta, _ = _read_run(runs[0])
            c = context()
            bio = config.chains * config.duration_ms / 1000.0 if meta["kind"] == "lif" else None
            st = tm.statistics(vis, c["rbm"], c["clf"], c["ref"].x_test, c["ref"].proportions,
                               bio, config.isl_samples, seed=int(seed), ref=c["ref"])
            st["wall_s"] = float(meta.get("wall_s", math.nan))
            write_json(spath, {"key": skey, "stats": st})
            per_seed.setdefault(row, {})[int(seed)] = st
            if progress:
                progress(f"statistics {row} seed {seed}: mode switches/1000 "
                         f"{st.get('mode_switches_per_1000', math.nan):.2f}")
    summary = {row: {k: _cell([st.get(k) for st in by_seed.values()]) for k in SUMMARY_KEYS}
               for row, by_seed in per_seed.items()}
    paired = {}
    for row in per_seed:
        cond = _CONDITIONS.get(row)
        if cond is None or cond.constant not in per_seed:
            continue
        entry = {}
        for ref_row in (cond.constant, f"{cond.constant}@{row}"):
            if ref_row not in per_seed:
                continue
            common = sorted(set(per_seed[row]) & set(per_seed[ref_row]))
            d = {k: _cell([_num(per_seed[row][s].get(k)) - _num(per_seed[ref_row][s].get(k))
                           for s in common]) for k in PAIRED_KEYS}
            mo = summary[row]["mode_switches_per_1000"]["mean"]
            mc = summary[ref_row]["mode_switches_per_1000"]["mean"]
            d["mode_switch_ratio"] = mo / mc if mc else (math.inf if mo else math.nan)
            d["seeds"] = common
            entry[ref_row] = d
        paired[row] = entry
    return {"schema": SCHEMA, "config": config.to_dict(),
            "conditions": {c: _CONDITIONS[c].describe() for c in config.conditions},
            "classifier": "quality.feature_classifier (the harness's fixed MLP)",
            "summary": summary, "paired": paired,
            "per_seed": {r: {str(s): v for s, v in d.items()} for r, d in per_seed.items()}}


def _num(v) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _cell(values) -> dict:
    vals = [_num(v) for v in values]
    vals = [v for v in vals if not math.isnan(v)]
    m, ci = mean_ci95(vals)
    return {"mean": m, "ci95": ci, "n": len(vals)}


# --------------------------------------------------------------------------------------------
# table and figure
# --------------------------------------------------------------------------------------------
TABLE_KEYS = ("mode_switches_per_1000", "precision", "recall", "fd", "isl", "confident_fraction",
              "mean_pixel", "confident_switches_per_1000", "samples")


def _g(x: float, digits: int = 3) -> str:
    """3 significant digits, but whole numbers from 1,000 up (no exponent)."""
    return f"{x:.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"


def _fmt(cell: dict, digits: int = 3) -> str:
    if not cell or cell["n"] == 0 or cell["mean"] != cell["mean"]:
        return "–"
    m, ci = cell["mean"], cell["ci95"]
    return _g(m, digits) + (f" [{_g(ci[0], digits)}, {_g(ci[1], digits)}]" if ci else "")


def table(result: dict, keys=TABLE_KEYS) -> str:
    """Markdown: one row per condition (mean [95 % interval] over seeds), then the paired
    differences of each oscillation to its constant-noise partner."""
    seeds = max((c["samples"]["n"] for c in result["summary"].values()), default=0)
    lines = [f"| sampler ({seeds} seeds) | " + " | ".join(keys) + " |",
             "|" + "---|" * (len(keys) + 1)]
    for row, cell in result["summary"].items():
        lines.append(f"| {row} | " + " | ".join(_fmt(cell.get(k)) for k in keys) + " |")
    if any(result["paired"].values()):
        lines += ["", "| oscillation − reference (paired by seed) | seeds | mode switches "
                  "/1000 | ratio of means | ISL | precision | FD | mean pixel |",
                  "|---|---|---|---|---|---|---|---|"]
        for row, entry in result["paired"].items():
            for ref_row, d in entry.items():
                lines.append(f"| {row} − {ref_row} | {len(d['seeds'])} | "
                             f"{_fmt(d['mode_switches_per_1000'])} | "
                             f"{d['mode_switch_ratio']:.3g} | {_fmt(d['isl'])} | "
                             f"{_fmt(d['precision'])} | {_fmt(d['fd'])} | "
                             f"{_fmt(d['mean_pixel'])} |")
    return "\n".join(lines)


def _t_peak(cond: Condition) -> float:
    rh = cond.rhythm
    return round(math.sqrt((rh.mean_hz + rh.amplitude_hz) / rh.trough_hz), 3)


def plot(result: dict, path: str | Path) -> None:
    """With two or more oscillation cells that have their constant-noise partner: heat maps
    over frequency × peak temperature of the mode-switch ratio, paired ΔISL, mean pixel and
    precision. Otherwise mode switches and ISL per condition (means with 95 % intervals)."""
    from ..plots import new_figure, save_figure

    summary, paired = result["summary"], result["paired"]
    cells = {}
    for row, entry in paired.items():
        cond = _CONDITIONS[row]
        if cond.constant in entry:
            cells[(cond.rhythm.frequency_hz, _t_peak(cond))] = (row, entry[cond.constant])
    if len(cells) >= 2:
        fr, tp = sorted({k[0] for k in cells}), sorted({k[1] for k in cells})
        panels = [
            (lambda r, d: d["mode_switch_ratio"], "mode switches /1000, × constant noise "
             "(same mean rate)"),
            (lambda r, d: d["isl"]["mean"], "ISL − ISL(constant noise), nats (paired)"),
            (lambda r, d: summary[r]["mean_pixel"]["mean"], "mean pixel of the trough samples"),
            (lambda r, d: summary[r]["precision"]["mean"], "k-NN precision"),
        ]
        fig, axes = new_figure(2, 2, figsize=(11, 7))
        for ax, (get, title) in zip(axes.flat, panels, strict=True):
            m = np.full((len(tp), len(fr)), np.nan)
            for (f, t), (r, d) in cells.items():
                m[tp.index(t), fr.index(f)] = get(r, d)
            im = ax.imshow(m, origin="lower", aspect="auto", cmap="viridis")
            for (i, j), v in np.ndenumerate(m):
                ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.3g}", ha="center",
                        va="center", fontsize=8, color="w")
            ax.set_xticks(range(len(fr)), [f"{f:g}" for f in fr])
            ax.set_yticks(range(len(tp)), [f"{t:g}" for t in tp])
            ax.set_xlabel("frequency (Hz)")
            ax.set_ylabel("peak temperature T (trough T = 1)")
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax)
    else:
        rows = list(summary)
        fig, axes = new_figure(1, 2, figsize=(10, 0.5 * len(rows) + 2))
        for ax, key, label in zip(axes, ("mode_switches_per_1000", "isl"),
                                  ("mode switches per 1,000 samples", "validated ISL (nats)"),
                                  strict=True):
            m = np.array([summary[r][key]["mean"] for r in rows])
            ci = [summary[r][key]["ci95"] or [summary[r][key]["mean"]] * 2 for r in rows]
            err = np.abs(np.array(ci, dtype=float).T - m)
            ax.errorbar(m, range(len(rows)), xerr=err, fmt="o", color="C0", capsize=3)
            ax.set_yticks(range(len(rows)), rows, fontsize=8)
            ax.invert_yaxis()
            ax.set_xlabel(label + ", mean [95 %]")
    cfg = result["config"]
    fig.suptitle(f"{len(cfg['seeds'])} seeds × {cfg['chains']} chains × "
                 f"{cfg['duration_ms'] / 1000:g} s per condition", fontsize=10)
    save_figure(fig, path)


__all__ = ["Condition", "TemperingStudyConfig", "conditions", "load_model", "plot",
           "quick_config", "record_ms", "run", "summarise", "table", "temperature_map"]
