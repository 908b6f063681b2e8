r"""One comparison harness for samplers of a classification RBM (spiking and classical).

Every sampler in a comparison gets, for each seed (research/generative_evaluation.md §3):

* the **same starts** — one binarised *training* image per chain (with its one-hot label),
  drawn with the seed (test images would favour a sampler that stays at its start, since they
  are scored);
* the **same burn-in policy** — the first ``burn_in_fraction`` of each chain's emitted samples
  is discarded, whatever the sampler (the spiking network only needs one refractory period,
  10 ms, to impose its start state);
* the **same classifier and metrics** — :func:`sample_statistics`, one suite: Fréchet distance
  and k-NN precision/recall in the feature space of the fixed MLP of :mod:`lifsampling.quality`
  (with the train-vs-test floor), ISL with the bandwidth chosen on a validation split, mode
  switches between runs of ≥ 3 confident samples (:func:`lifsampling.metrics.mode_switches`),
  rank-normalised split-R̂ and ESS on the free energy and the class indicators, the class
  histogram's TV distance to the training proportions (KL only with add-one smoothing), mean
  pixel;
* **two budgets** — *equal samples* (n samples per chain after burn-in) and *equal wall-clock
  time*: every sampler gets the wall time the reference sampler (the first spiking one) took;
  Gibbs and PT are thinned to the same number of samples over that time, AST runs exactly the
  Gibbs sweeps that fit and keeps what it emitted at β = 1 (charged for its ladder).

Seeds: each seed's raw statistics are kept; the headline is the mean over seeds with a
bootstrap 95 % interval (:func:`mean_ci95`). The STP renormalisation pilot is a one-off cost
per model, reported separately (``pilot_wall_s``) and not charged to the sampler.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import metrics, quality
from .boltzmann import RBM, ASTSampler, GibbsSampler, PTSampler
from .calibration import Calibration
from .datasets import binarize, class_proportions, load_mnist, one_hot
from .params import RENEWING
from .spiking_rbm import LayerCorrection, SpikingRBMSampler, renormalise_stp

#: Every sampler the harness knows, by name.
SAMPLER_NAMES = ("stp", "lif", "gibbs", "ast", "pt")
SPIKING = ("stp", "lif")
#: The one tempering ladder of the classical baselines: 20 inverse temperatures 1 -> 0.8
#: (Leng et al. 2018's AST reference set-up; research/lif_sampling.md §4).
TEMPERING_BETAS = tuple(float(b) for b in torch.linspace(1.0, 0.8, 20))
CONFIDENCE = 0.9
MIN_RUN = 3
#: Fewest samples (all chains) a harness cell is scored on: k-NN precision/recall (k = 3)
#: need k + 1.
MIN_SCORED = 4


def mean_ci95(values, seed: int = 0, n_resamples: int = 10_000,
              methods: tuple[str, ...] = ("percentile",)) -> tuple[float, list | None]:
    """Mean of per-seed values and its bootstrap 95 % interval (``scipy.stats.bootstrap``, the
    first of ``methods`` that gives a finite interval, e.g. ("BCa", "percentile")); nan values
    are dropped; the interval is None for fewer than 3 values or when one is infinite (the mean
    is then inf)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if v.size == 0:
        return float("nan"), None
    if np.isinf(v).any():  # e.g. R-hat of chains that each keep one class
        return float(v.mean()), None
    m = float(v.mean())
    if v.size < 3 or np.ptp(v) == 0:
        return m, None if v.size < 3 else [m, m]
    import warnings

    from scipy.stats import bootstrap

    rng = np.random.default_rng(seed)
    for method in methods:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = bootstrap((v,), np.mean, n_resamples=n_resamples, confidence_level=0.95,
                          method=method, random_state=rng)
        lo, hi = float(r.confidence_interval.low), float(r.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return m, [lo, hi]
    return m, None


# --------------------------------------------------------------------------------------------
# reference data
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvaluationData:
    """Binarised reference images for the metrics and the training class proportions.

    ``x_test`` scores ISL, FD, precision and recall; ``x_val`` chooses the ISL bandwidth;
    ``x_train`` supplies start states and the FD floor (real train vs real test images).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    x_val: np.ndarray
    proportions: np.ndarray
    source: str

    @property
    def data_mean_pixel(self) -> float:
        return float(self.x_train[:10_000].mean())

    def starts(self, chains: int, seed: int, n_labels: int = 10) -> torch.Tensor:
        """(chains, 784 + n_labels) start states: chain k a training digit of class k mod 10,
        drawn with ``seed``."""
        rng = np.random.default_rng(seed)
        idx = [int(rng.choice(np.flatnonzero(self.y_train == k % 10))) for k in range(chains)]
        x = self.x_train[idx]
        if n_labels:
            x = np.concatenate([x, one_hot(self.y_train[idx], n_labels)], 1)
        return torch.from_numpy(x.astype(np.float32))


def evaluation_data(data: str = "auto", n_test: int = 1000, proportions=None) -> EvaluationData:
    """Reference images from MNIST (``"auto"``: full MNIST when available locally, else the
    built-in subset): the first ``n_test`` test images score, the next ``n_test`` validate."""
    ds = load_mnist(data, download=False)
    xt = binarize(ds.x_test).astype(np.float32)
    n = min(int(n_test), len(xt) // 2)
    if n < 10:
        raise ValueError(f"n_test must be >= 10, got {n_test}")
    props = class_proportions(ds.y_train) if proportions is None else np.asarray(proportions)
    return EvaluationData(x_train=binarize(ds.x_train).astype(np.float32), y_train=ds.y_train,
                          x_test=xt[:n], x_val=xt[n:2 * n], proportions=props / props.sum(),
                          source=str(ds.provenance.get("source")))


# --------------------------------------------------------------------------------------------
# the one statistics suite
# --------------------------------------------------------------------------------------------
def _check_binary(x: np.ndarray, name: str) -> None:
    if not np.isin(x, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1)")


def _as_chains(samples, name: str = "samples", min_width: int = 784) -> list[np.ndarray]:
    """``samples`` as a list of per-chain (n_c, d) float32 arrays: an array (chains, n, d) or a
    list of per-chain (n_c, d) arrays of different lengths (ragged chains, e.g. AST's β = 1
    samples at a fixed budget)."""
    if isinstance(samples, (list, tuple)):
        chains = [np.asarray(c, dtype=np.float32) for c in samples]
        if not chains or any(c.ndim != 2 or c.shape[1] < min_width for c in chains) \
                or len({c.shape[1] for c in chains}) > 1 or sum(map(len, chains)) < 2:
            raise ValueError(f"{name} must be per-chain (n_c, >= {min_width}) arrays of one "
                             "width, >= 2 samples in all")
    else:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 3 or x.shape[1] < 2 or x.shape[2] < min_width:
            raise ValueError(f"{name} must be (chains, n >= 2, >= {min_width}), got {x.shape}")
        chains = list(x)
    for c in chains:
        _check_binary(c, name)
    return chains


def _even_indices(S: int, n: int) -> np.ndarray:
    """Indices of ``n`` samples evenly spaced over a run of ``S`` (first and last included);
    all ``S`` when S <= n."""
    if S <= n:
        return np.arange(S)
    return np.round(np.linspace(0, S - 1, n)).astype(int)


def sample_statistics(pixels, ref: EvaluationData, *, rbm: RBM | None = None, visible=None,
                      clf=None, seed: int = 0) -> dict:
    """Quality and mixing of binary image samples (see module docstring).

    ``pixels``: (chains, n, ≥ 784), or a list of per-chain (n_c, ≥ 784) arrays of different
    lengths (ragged chains). Quality (FD, precision, recall, ISL, class histogram, mean pixel,
    confident fraction) is computed on all samples pooled; mode switches within each chain,
    per 1,000 consecutive pairs of all chains. Ragged chains are thinned evenly to the
    shortest one's count (``rhat_samples_per_chain``) for split-R̂ and ESS only. With ``rbm``
    and ``visible`` (same layout, n_visible wide) the free energy's R̂/ESS/τ_int are added. The
    classifier is :func:`lifsampling.quality.feature_classifier` by default."""
    chains = [c[:, :784] for c in _as_chains(pixels) if len(c)]
    lengths = np.array([len(c) for c in chains])
    clf = clf or quality.feature_classifier()
    flat = np.concatenate(chains)
    probs_flat = clf.predict_proba(flat)
    chain_probs = np.split(probs_flat, np.cumsum(lengths)[:-1])
    q = quality.generative_quality(flat, ref.x_test, floor_reference=ref.x_train, seed=seed,
                                   clf=clf)
    isl = metrics.isl_validated(flat, ref.x_test, ref.x_val)
    hist = metrics.class_histogram_distance(probs_flat.argmax(-1), ref.proportions)
    switches = sum(metrics.mode_switches(p, CONFIDENCE, MIN_RUN, per=None) for p in chain_probs)
    pairs = int((lengths - 1).clip(min=0).sum())
    m = int(lengths.min())
    # split-R-hat and ESS need equal lengths: every chain thinned evenly to the shortest
    idx = ([_even_indices(length, m) for length in lengths] if len(chains) > 1 and m >= 4
           else None)
    diag = {} if idx is None else metrics.multichain_diagnostics(
        np.stack([c.mean(-1)[i] for c, i in zip(chains, idx, strict=True)]),
        np.stack([p.argmax(-1)[i] for p, i in zip(chain_probs, idx, strict=True)]))
    rh_pix, rh_cls = diag.get("rhat_free_energy", math.nan), diag.get("rhat_classes", math.nan)
    finite = [v for v in (rh_pix, rh_cls) if v == v]
    out = {
        "n_samples": int(lengths.sum()), "chains": len(chains),
        "fd": q["fd"], "fd_floor": q["fd_floor"], "precision": q["precision"],
        # what real (training) images score as samples against the same reference
        "precision_floor": q["precision_floor"], "recall_floor": q["recall_floor"],
        "recall": q["recall"], "n_compared": q["n"],
        "isl": isl["isl"], "isl_beta": isl["beta"],
        "isl_beta_0.95": metrics.isl(flat, ref.x_test, 0.95),
        "mode_switches_per_1000": 1000.0 * switches / pairs if pairs else 0.0,
        "mode_switches": switches,
        "confident_fraction": metrics.confident_fraction(probs_flat, CONFIDENCE),
        "classes_visited_per_chain": [int(metrics.classes_visited(p.argmax(-1))[0])
                                      for p in chain_probs],
        "class_histogram": hist["histogram"],
        "class_histogram_tv": hist["total_variation"],
        "class_histogram_kl_add_one": hist["kl_add_one"],
        "mean_pixel": float(flat.mean()), "data_mean_pixel": ref.data_mean_pixel,
        # split-R-hat (Vehtari et al. 2021) over the chains: the max of the per-sample mean
        # pixel's and the class indicators' (inf when every half-chain keeps one class)
        "rhat": max(finite) if finite else math.nan,
        "rhat_mean_pixel": rh_pix, "rhat_classes": rh_cls,
        "ess_classes": diag.get("ess_classes", math.nan),
    }
    if not (lengths == lengths[0]).all():
        out["samples_per_chain_range"] = [int(lengths.min()), int(lengths.max())]
        out["rhat_samples_per_chain"] = 0 if idx is None else m
    if rbm is not None and visible is not None and idx is not None:
        vis_chains = [c for c in _as_chains(visible, "visible", rbm.n_visible) if len(c)]
        vis = np.stack([c[i] for c, i in zip(vis_chains, idx, strict=True)])
        v = torch.as_tensor(vis).reshape(-1, vis.shape[-1])
        fe = rbm.free_energy(v.to(rbm.dtype)).reshape(vis.shape[:2]).double().numpy()
        out["rhat_free_energy"] = metrics.split_rhat(fe)
        out["ess_free_energy"] = metrics.ess_bulk(fe)
        out["tau_int_free_energy"] = metrics.integrated_autocorr_time(fe)
    return out


# --------------------------------------------------------------------------------------------
# samplers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SamplerOptions:
    """How the samplers of a comparison are built. STP: utilisation ``U``, recovery
    ``tau_rec_ms`` (ms), renormalised on a ``pilot_ms`` pilot run of the same network."""

    U: float = 0.1
    tau_rec_ms: float = 280.0
    pilot_ms: float = 1000.0
    sample_every_ms: float = 10.0
    betas: tuple = TEMPERING_BETAS
    device: str = "auto"
    correction: LayerCorrection | None = None  # spiking samplers: per-layer mapping correction

    def validate(self) -> None:
        if not 0 < self.U <= 1 or not self.tau_rec_ms > 0 or not self.pilot_ms > 0:
            raise ValueError("need 0 < U <= 1, tau_rec_ms > 0 and pilot_ms > 0")
        if not self.sample_every_ms > 0:
            raise ValueError("sample_every_ms must be > 0")


def make_sampler(name: str, rbm: RBM, calibration: Calibration | None,
                 opts: SamplerOptions, seed: int = 0):
    """The sampler registry: a sampler object by name (see :data:`SAMPLER_NAMES`), and
    information on its construction (the STP renormalisation)."""
    if name not in SAMPLER_NAMES:
        raise ValueError(f"unknown sampler {name!r}; choose from {', '.join(SAMPLER_NAMES)}")
    if name in SPIKING and calibration is None:
        raise ValueError(f"sampler {name!r} needs a calibration")
    burn = calibration.neuron.tau_ref_ms if calibration is not None else 0.0
    if name == "stp":
        t0 = time.perf_counter()
        syn, info = renormalise_stp(rbm, calibration, opts.U, opts.tau_rec_ms,
                                    pilot_ms=opts.pilot_ms, seed=seed + 1000,
                                    device=opts.device, correction=opts.correction)
        info = {"synapse": syn.to_dict(), "pilot_wall_s": time.perf_counter() - t0,
                "history": info["history"]}
        return SpikingRBMSampler(calibration, syn, burn_in_ms=burn,
                                 sample_every_ms=opts.sample_every_ms, device=opts.device,
                                 name="stp", correction=opts.correction), info
    if name == "lif":
        return SpikingRBMSampler(calibration, RENEWING, burn_in_ms=burn,
                                 sample_every_ms=opts.sample_every_ms, device=opts.device,
                                 name="lif", correction=opts.correction), {}
    if name == "gibbs":
        return GibbsSampler(), {}
    if name == "ast":
        return ASTSampler(betas=torch.tensor(opts.betas)), {}
    return PTSampler(betas=torch.tensor(opts.betas)), {}


def _thin(states: torch.Tensor, n: int) -> torch.Tensor:
    """n samples per chain, evenly spaced over the run (the last one included)."""
    S = states.shape[1]
    return states if S <= n else states[:, _even_indices(S, n)]


def _ragged_to_common(per_chain: list[torch.Tensor]) -> torch.Tensor | None:
    """All chains thinned evenly to the shortest, stacked (for saved sample files and
    figures; the statistics keep ragged chains whole); None below 2 samples per chain."""
    m = min(len(c) for c in per_chain)
    if m < 2:
        return None
    return torch.stack([_thin(c[None], m)[0] for c in per_chain])


def _burn(states, burn: int, n_total: int, fraction: float):
    """Drop the burn-in: ``burn`` samples of a chain that emitted ``n_total``, else the first
    ``fraction`` of what it emitted. ``states``: (chains, S, n) or a list of per-chain (S_c,
    n) tensors (ragged chains, each burnt on its own length)."""
    def one(c):
        S = c.shape[-2]
        return c[..., (burn if S == n_total else int(round(fraction * S))):, :]
    if isinstance(states, list):
        return [one(c) for c in states]
    return one(states)


def _ragged(per_chain: list[torch.Tensor], n: int) -> list[torch.Tensor] | None:
    """Each chain's samples thinned evenly to at most ``n``; None when they hold fewer than 2
    samples in all."""
    kept = [_thin(c[None], n)[0] for c in per_chain]
    return kept if sum(len(c) for c in kept) >= 2 else None


def _run_equal_samples(sampler, rbm, n_total: int, chains: int, seed: int, init) -> dict:
    """n_total samples per chain. AST emits only at β = 1, at a rate that differs between
    chains (a slow chain can stall a fixed-count run for minutes), so it runs K · n_total steps
    (K = ladder length: the steps that give n_total β = 1 visits per chain at the uniform
    occupancy its Wang–Landau weights aim at) and keeps, per chain, the first n_total of them:
    ragged chains (a list), their counts reported as ``kept_per_chain``."""
    t0 = time.perf_counter()
    if isinstance(sampler, ASTSampler):
        per_chain = sampler.sample_budget(rbm, len(sampler.betas) * n_total, chains=chains,
                                          seed=seed, init=init)
        s = _ragged([c[:n_total] for c in per_chain], n_total)
        info = {k: v for k, v in sampler.info.items() if k != "log_weights"}
        info["kept_per_chain"] = [len(c) for c in s] if s is not None else 0
    else:
        s = sampler.sample(rbm, n_total, chains=chains, seed=seed, init=init)
        info = {k: v for k, v in sampler.info.items() if k != "log_weights"}
    return {"states": s, "wall_s": time.perf_counter() - t0, "info": info}


def equal_time_budget(wall_s: float, sweeps: float, ref_wall_s: float) -> int:
    """Sweeps (all chains in parallel) that fit in ``ref_wall_s`` seconds for a sampler that
    took ``wall_s`` seconds for ``sweeps`` of them; at least 1."""
    per_sweep = wall_s / max(float(sweeps), 1.0)                    # s per sweep
    return max(1, int(ref_wall_s / per_sweep))


def run_equal_time(name: str, info: dict, rbm, wall_s: float, ref_wall_s: float,
                   n_total: int, chains: int, seed: int, init, opts: SamplerOptions) -> dict:
    """Classical sampler ``name`` (gibbs, ast, pt) given ``ref_wall_s`` seconds: its cost per
    sweep comes from its own equal-samples run (``wall_s`` for that run's sweeps; ``info`` is
    that run's ``sampler.info``). Gibbs and PT are thinned to ``n_total`` samples per chain
    over the budget; AST runs exactly the sweeps that fit and keeps what each chain emitted at
    β = 1, thinned to at most ``n_total`` per chain. Returns {"states": (chains, S, n), for AST
    a list of per-chain (S_c, n) (ragged), or None; "wall_s", "sweeps", "info"}."""
    sweeps_done = info.get("steps") or n_total * float(info.get("sweeps_per_sample") or 1.0)
    budget = equal_time_budget(wall_s, sweeps_done, ref_wall_s)
    t0 = time.perf_counter()
    if name == "gibbs":
        thin = max(1, budget // n_total)
        s = GibbsSampler(thin=thin).sample(rbm, n_total, chains=chains, seed=seed, init=init)
        info = {"thin": thin}
    elif name == "pt":
        rounds = max(2, budget // len(opts.betas))
        thin = max(1, rounds // n_total)
        s = PTSampler(betas=torch.tensor(opts.betas)).sample(
            rbm, min(rounds, n_total * thin), chains=chains, seed=seed, init=init)
        s = s[:, thin - 1::thin] if thin > 1 else s
        info = {"thin": thin, "swap_rounds": int(min(rounds, n_total * thin))}
    else:  # ast: exactly the sweeps that fit, keep what each chain emitted at beta = 1
        a = ASTSampler(betas=torch.tensor(opts.betas))
        per_chain = a.sample_budget(rbm, budget, chains=chains, seed=seed, init=init)
        s = _ragged(per_chain, n_total)
        info = {"emitted_per_chain": a.info.get("emitted_per_chain"),
                "kept_per_chain": [len(c) for c in s] if s is not None else 0}
    return {"states": s, "wall_s": time.perf_counter() - t0, "sweeps": budget, "info": info}


@dataclass
class ComparisonConfig:
    """A comparison: samplers, samples per chain ``n_samples`` (after burn-in), ``chains``,
    ``seeds``, the discarded fraction ``burn_in_fraction``, and whether to run the equal-time
    budget too. ``reference`` names the sampler whose wall time sets the equal-time budget
    (default: the first spiking sampler)."""

    samplers: tuple = SAMPLER_NAMES
    n_samples: int = 1000
    chains: int = 4
    seeds: tuple = tuple(range(10))
    burn_in_fraction: float = 0.1
    equal_time: bool = True
    reference: str | None = None
    options: SamplerOptions = field(default_factory=SamplerOptions)

    def validate(self) -> None:
        bad = [s for s in self.samplers if s not in SAMPLER_NAMES]
        if bad or not self.samplers:
            raise ValueError(f"unknown sampler(s) {bad}; choose from {', '.join(SAMPLER_NAMES)}")
        if self.n_samples < 3 or self.chains < 1 or not self.seeds:
            raise ValueError("need n_samples >= 3, chains >= 1 and at least one seed")
        if not 0 <= self.burn_in_fraction < 1:
            raise ValueError("burn_in_fraction must be in [0, 1)")
        if self.reference is not None and self.reference not in self.samplers:
            raise ValueError(f"reference {self.reference!r} is not among the samplers")
        self.options.validate()

    @property
    def reference_sampler(self) -> str | None:
        if self.reference:
            return self.reference
        return next((s for s in self.samplers if s in SPIKING), None)


def _score(states, rbm: RBM, ref: EvaluationData, burn: int, n_total: int, fraction: float,
           seed: int):
    """Burn-in dropped (:func:`_burn`), then :func:`sample_statistics` of the pixels with the
    free energy of the visible units; ``states`` as a sampler emitted them (a tensor, or a
    list of per-chain tensors). Returns (the kept states, the statistics)."""
    s = _burn(states, burn, n_total, fraction)
    chains = s if isinstance(s, list) else list(s)
    if sum(len(c) for c in chains) < MIN_SCORED:
        return s, {"skipped": f"fewer than {MIN_SCORED} samples after the burn-in",
                   "n_samples": int(sum(len(c) for c in chains))}
    st = sample_statistics([c[:, :784].numpy() for c in chains], ref, rbm=rbm,
                           visible=[c[:, :rbm.n_visible].numpy() for c in chains], seed=seed)
    return s, st


def run_seed(rbm: RBM, calibration: Calibration | None, ref: EvaluationData,
             cfg: ComparisonConfig, seed: int, *, keep_states: bool = False,
             log=None) -> dict:
    """One seed of a comparison: {"equal_samples": {name: stats}, "equal_time": {...},
    "wall_s": {...}, "construction": {...}} (and the states when ``keep_states``)."""
    cfg.validate()
    rbm = rbm.to(device="cpu", dtype=torch.float32)
    init = ref.starts(cfg.chains, seed, rbm.n_labels)
    burn = int(math.ceil(cfg.burn_in_fraction * cfg.n_samples / (1 - cfg.burn_in_fraction)))
    n_total = cfg.n_samples + burn
    out = {"seed": seed, "equal_samples": {}, "equal_time": {}, "wall_s": {},
           "construction": {}, "burn_in_samples": burn}
    states = {}
    runs = {}
    for name in cfg.samplers:
        sampler, info = make_sampler(name, rbm, calibration, cfg.options, seed)
        out["construction"][name] = info
        r = _run_equal_samples(sampler, rbm, n_total, cfg.chains, seed, init)
        runs[name] = (sampler, r)
        out["wall_s"][name] = r["wall_s"]
        if r["states"] is None:
            out["equal_samples"][name] = {"skipped": "fewer than 2 samples emitted in all"}
            continue
        s, st = _score(r["states"], rbm, ref, burn, n_total, cfg.burn_in_fraction, seed)
        st["wall_s"] = r["wall_s"]
        st["sweeps_per_sample"] = r["info"].get("sweeps_per_sample")
        out["equal_samples"][name] = st
        if keep_states:  # ragged chains thinned to the shortest, for the figures and file
            s = _ragged_to_common(s) if isinstance(s, list) else s
            if s is not None:
                states[name] = s[..., :rbm.n_visible].to(torch.uint8).numpy()
        if log:
            log(seed, name, "equal samples", st)
    ref_name = cfg.reference_sampler
    if cfg.equal_time and ref_name is not None:
        ref_wall = out["wall_s"][ref_name]
        out["equal_time_wall_s"] = ref_wall
        for name in cfg.samplers:
            if name in SPIKING or name == ref_name:  # these are their own equal-time runs
                out["equal_time"][name] = out["equal_samples"][name]
                continue
            sampler, r = runs[name]
            e = run_equal_time(name, sampler.info, rbm, r["wall_s"], ref_wall, n_total,
                               cfg.chains, seed, init, cfg.options)
            if e["states"] is None:
                out["equal_time"][name] = {"skipped": "fewer than 2 samples at beta = 1 in "
                                           "the time budget", "sweeps": e["sweeps"]}
                continue
            _, st = _score(e["states"], rbm, ref, burn, n_total, cfg.burn_in_fraction, seed)
            st.update({"wall_s": e["wall_s"], "sweeps": e["sweeps"], "info": e["info"]})
            out["equal_time"][name] = st
            if log:
                log(seed, name, "equal time", st)
    if keep_states:
        out["states"] = states
    return out


HEADLINE_KEYS = ("mode_switches_per_1000", "precision", "recall", "fd", "fd_floor", "isl",
                 "confident_fraction", "mean_pixel", "class_histogram_tv", "rhat", "wall_s",
                 "precision_floor", "recall_floor")


def summarise(per_seed: list[dict], keys=HEADLINE_KEYS) -> dict:
    """Mean and bootstrap 95 % interval over seeds of every headline statistic, per budget
    and sampler: {budget: {sampler: {key: {"mean", "ci95", "n"}}}}."""
    out: dict = {}
    for budget in ("equal_samples", "equal_time"):
        names = sorted({n for r in per_seed for n in r.get(budget, {})})
        for name in names:
            rows = [r[budget][name] for r in per_seed if name in r.get(budget, {})
                    and "skipped" not in r[budget][name]]
            cell = {}
            for k in keys:
                vals = [row.get(k) for row in rows]
                vals = [float(v) for v in vals if isinstance(v, int | float)]
                m, ci = mean_ci95(vals)
                cell[k] = {"mean": m, "ci95": ci, "n": len(vals)}
            out.setdefault(budget, {})[name] = cell
    return out


def run_comparison(rbm: RBM, calibration: Calibration | None, cfg: ComparisonConfig, *,
                   ref: EvaluationData | None = None, on_seed=None, log=None,
                   progress: bool = False) -> dict:
    """All seeds of a comparison; ``on_seed(result)`` is called after each seed (e.g. to save
    it). Returns {"config", "per_seed", "summary"}."""
    cfg.validate()
    ref = ref or evaluation_data()
    per_seed = []
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("seeds", total=len(cfg.seeds))
    try:
        for s in cfg.seeds:
            r = run_seed(rbm, calibration, ref, cfg, int(s), log=log)
            per_seed.append(r)
            if on_seed:
                on_seed(r)
            if bar is not None:
                bar.update(task, advance=1)
    finally:
        if bar is not None:
            bar.stop()
    return {"config": config_dict(cfg), "data_source": ref.source, "per_seed": per_seed,
            "summary": summarise(per_seed)}


def config_dict(cfg: ComparisonConfig) -> dict:
    d = {k: getattr(cfg, k) for k in ("samplers", "n_samples", "chains", "seeds",
                                      "burn_in_fraction", "equal_time")}
    d["reference"] = cfg.reference_sampler
    d["options"] = {k: getattr(cfg.options, k) for k in ("U", "tau_rec_ms", "pilot_ms",
                                                         "sample_every_ms", "device")}
    d["options"]["betas"] = [cfg.options.betas[0], cfg.options.betas[-1], len(cfg.options.betas)]
    if cfg.options.correction is not None:
        d["options"]["correction"] = cfg.options.correction.to_dict()
    d["seeds"] = list(d["seeds"])
    d["samplers"] = list(d["samplers"])
    d["confidence"], d["min_run"] = CONFIDENCE, MIN_RUN
    return d


def with_stp(cfg: ComparisonConfig, U: float, tau_rec_ms: float) -> ComparisonConfig:
    """``cfg`` with other STP parameters (for sweeps)."""
    return replace(cfg, options=replace(cfg.options, U=U, tau_rec_ms=tau_rec_ms))


__all__ = ["SAMPLER_NAMES", "TEMPERING_BETAS", "ComparisonConfig", "EvaluationData",
           "SamplerOptions", "evaluation_data", "make_sampler", "markdown_table", "mean_ci95",
           "run_comparison", "run_equal_time", "run_seed", "sample_statistics", "summarise",
           "with_stp"]


def markdown_table(summary: dict, budget: str = "equal_samples", keys=HEADLINE_KEYS,
                   digits: int = 3) -> str:
    """A Markdown table of :func:`summarise`'s output for one budget: one row per sampler,
    each cell "mean [lo, hi]" (bootstrap 95 % interval over seeds)."""
    rows = summary.get(budget, {})
    head = "| sampler | " + " | ".join(keys) + " |"
    lines = [head, "|" + "---|" * (len(keys) + 1)]
    for name, cell in rows.items():
        vals = []
        for k in keys:
            c = cell.get(k)
            if c is None or c["n"] == 0:
                vals.append("–")
                continue
            m, ci = c["mean"], c["ci95"]
            vals.append(f"{m:.{digits}g}" + (f" [{ci[0]:.{digits}g}, {ci[1]:.{digits}g}]"
                                             if ci else ""))
        lines.append(f"| {name} | " + " | ".join(vals) + " |")
    return "\n".join(lines)
