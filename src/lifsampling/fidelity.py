r"""Exact fidelity of a spiking RBM: its clamped conditionals against the RBM's.

An RBM's conditionals are factorial and exact: with the visible layer held at v, every hidden
unit is on with probability sigma(b_h + Wᵀv); with the hidden layer held at h, every visible
unit with sigma(b_v + W h). The spiking network is faithful to the RBM it was mapped from when
its time-averaged p(z = 1) of each free neuron, with the other layer clamped, equals these.

**Clamping by spiking** (how the source networks clamp): a clamped-on neuron's leak potential
is raised by ``INIT_SHIFT_MV`` (20 mV above a mapped leak ~ -50 mV, far above threshold), so it
fires at its refractory limit and holds z = 1 almost all the time; a clamped-off neuron's is
lowered by as much and it stays silent. Its input to the other layer then passes through the
simulated synapses (conductances, one-step delay), which is what is being tested.

**Clamp phases.** A clamped-on neuron fires periodically (period tau_ref + one step), so the
phases it starts with (random, "staggered", so that the clamped population does not fire in
lockstep) stay fixed for the whole run, and the free units' response depends on them: on the
MNIST RBM one draw of the phases moves the hidden on-fractions by an RMS of about 0.025, an
error that a longer run does not average away. Each state is therefore measured as
``phases`` independent runs, each with its own phases, and averaged; the two halves that give
the noise floor are the even and the odd runs, so the floor includes the phases' share.

**Folded** variant: the clamped layer's input b + W z is folded into the free layer's leak
potentials and only the free (then unconnected) layer is simulated, testing the activation
function alone (the calibration) without the synaptic translation.

Reported per direction (:class:`ConditionalFit`): the RMS and maximum of p_LIF - p_exact over
all units x clamped states, the noise floor of that RMS (sampling and clamp phases, from the
even and the odd runs of each state: Var(p̂) ≈ (p̂₁ - p̂₂)² / 4), and the gain and offset of
the measured logit against the exact one (a logistic regression of the on-fractions on the
exact logits; gain 1 and offset 0 for a faithful network), with 95 % bootstrap intervals over
the clamped states (each clamped state has its own chains and noise).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.special import expit

from .boltzmann import RBM
from .calibration import Calibration
from .engine import Network, simulate
from .mapping import biases_to_leak
from .params import NoiseParams, SynapseParams
from .spiking_rbm import LayerCorrection, _check_rbm, build_network, clamp_by_spiking

BOOTSTRAP = 200  # resamples of the clamped states for the 95 % intervals
DEFAULT_PHASES = 8  # independent runs (clamp phases) per clamped state


@dataclass(frozen=True)
class ConditionalFit:
    """Measured against exact conditionals of one layer (probabilities; gain/offset in logits).

    ``*_ci`` are 95 % bootstrap intervals over the clamped states; ``rms_noise`` the part of
    ``rms`` that finite sampling alone explains (estimated from the run's two halves)."""

    rms: float
    max: float
    gain: float
    offset: float
    rms_noise: float
    rms_ci: tuple[float, float]
    gain_ci: tuple[float, float]
    offset_ci: tuple[float, float]
    units: int
    states: int

    @property
    def rms_excess(self) -> float:
        """The part of the RMS error beyond sampling noise: sqrt(rms² - rms_noise²)."""
        return float(np.sqrt(max(0.0, self.rms**2 - self.rms_noise**2)))

    def to_dict(self) -> dict:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
        return {**d, "rms_excess": self.rms_excess}


def _logistic_regression(X: np.ndarray, y: np.ndarray, theta: np.ndarray,
                         iterations: int = 30) -> np.ndarray:
    """Coefficients of y ≈ sigma(X theta) for on-fractions y in [0, 1]: quasi-binomial maximum
    likelihood by Newton's method from ``theta``. Units measured at exactly 0 or 1 stay in
    and nothing is selected on the noisy y, so noise does not bias the coefficients (as it
    would a straight line through logit(y) over selected units)."""
    th = np.asarray(theta, dtype=float).copy()
    ridge = 1e-9 * np.eye(X.shape[1])
    for _ in range(iterations):
        q = expit(np.clip(X @ th, -50, 50))
        step = np.linalg.solve((X * (q * (1 - q))[:, None]).T @ X + ridge, X.T @ (y - q))
        th = th + step
        if np.abs(step).max() < 1e-10:
            break
    return th


def _line(a: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(gain k, offset c) of p ≈ sigma(k a + c), a the exact logits."""
    k, c = _logistic_regression(np.stack([a, np.ones_like(a)], 1), p, np.array([1.0, 0.0]))
    return float(k), float(c)


def conditional_fit(p_measured, p_exact, a_exact, halves=None, *, seed: int = 0
                    ) -> ConditionalFit:
    """Compare measured on-fractions (S, U) with exact probabilities (S, U) whose logits are
    ``a_exact`` (S, U); ``halves`` (2, S, U) are the two halves' on-fractions (noise floor)."""
    p, q, a = (np.asarray(x, dtype=float) for x in (p_measured, p_exact, a_exact))
    if p.shape != q.shape or p.shape != a.shape or p.ndim != 2:
        raise ValueError(f"shapes differ: {p.shape}, {q.shape}, {a.shape}")
    err = p - q
    rms = float(np.sqrt(np.mean(err**2)))
    noise = float("nan")
    if halves is not None:
        h = np.asarray(halves, dtype=float)
        noise = float(np.sqrt(np.mean((h[0] - h[1]) ** 2) / 4.0))
    gain, offset = _line(a.ravel(), p.ravel())
    rng = np.random.default_rng(seed)
    boot = {"rms": [], "gain": [], "offset": []}
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, p.shape[0], p.shape[0])
        boot["rms"].append(np.sqrt(np.mean(err[i] ** 2)))
        k, c = _line(a[i].ravel(), p[i].ravel())
        boot["gain"].append(k)
        boot["offset"].append(c)

    def ci(v):
        v = np.asarray(v, dtype=float)
        v = v[np.isfinite(v)]
        return (float("nan"),) * 2 if v.size == 0 else tuple(
            float(x) for x in np.percentile(v, [2.5, 97.5]))

    return ConditionalFit(rms=rms, max=float(np.abs(err).max()), gain=gain, offset=offset,
                          rms_noise=noise, rms_ci=ci(boot["rms"]), gain_ci=ci(boot["gain"]),
                          offset_ci=ci(boot["offset"]), units=p.shape[1], states=p.shape[0])


def _run(net: Network, states: int, phases: int, duration_ms: float, burn_in_ms: float,
         seed: int, device: str, schedule=None) -> tuple[np.ndarray, np.ndarray]:
    """On-fractions (S, N) of ``states`` clamped states and of the two halves of each (2, S, N).

    ``net`` holds ``states * phases`` chains, state s in chains s·phases … s·phases + phases - 1
    (:func:`_replicate`), each an independent run of ``duration_ms / phases`` after its own
    burn-in and, when staggered, with its own clamp phases. A state's on-fraction is the mean
    over its replicas; the halves are its even and odd replicas, so the noise floor includes
    what the phases of the clamp add, not only the sampling noise."""
    r = simulate(net, duration_ms / phases, chains=states * phases, burn_in_ms=burn_in_ms,
                 seed=seed, device=device, e_leak_schedule=schedule)
    f = r.on_fraction.numpy().reshape(states, phases, -1)
    halves = np.stack([f[:, 0::2].mean(1), f[:, 1::2].mean(1)])
    return f.mean(1), halves


def _replicate(x: torch.Tensor, phases: int) -> torch.Tensor:
    """Each row of ``x`` repeated ``phases`` times in a row (the replicas of :func:`_run`)."""
    return x.repeat_interleave(phases, dim=0)


def _folded_network(b: torch.Tensor, calibration: Calibration, noise: NoiseParams | None
                    ) -> Network:
    """Unconnected neurons with per-chain leak potentials mapped from the biases b (B, U)."""
    e = biases_to_leak(b, calibration)
    u = b.shape[1]
    return Network(torch.zeros(u, u, dtype=torch.float64), e, calibration.neuron,
                   noise or calibration.noise, SynapseParams())


@dataclass
class FidelityReport:
    """Clamped-conditional fidelity of one spiking RBM in both directions, by spiking and
    folded (``None`` when not measured)."""

    hidden: ConditionalFit
    visible: ConditionalFit
    hidden_folded: ConditionalFit | None
    visible_folded: ConditionalFit | None
    images: int
    duration_ms: float
    burn_in_ms: float
    seed: int
    wall_s: float
    raw: dict | None = field(default=None, repr=False)  # per direction: p, b, A⁺, A⁻ arrays
    phases: int = DEFAULT_PHASES  # independent clamp-phase runs per state

    def summary(self) -> dict:
        """The flat figures: ``hidden_rms``, ``hidden_max``, ``hidden_gain``, ``hidden_offset``,
        the same for ``visible_``, and for ``folded_hidden_`` / ``folded_visible_``."""
        out = {}
        for name, fit in (("hidden", self.hidden), ("visible", self.visible),
                          ("folded_hidden", self.hidden_folded),
                          ("folded_visible", self.visible_folded)):
            if fit is None:
                continue
            out.update({f"{name}_rms": fit.rms, f"{name}_max": fit.max,
                        f"{name}_gain": fit.gain, f"{name}_offset": fit.offset,
                        f"{name}_rms_noise": fit.rms_noise,
                        f"{name}_rms_excess": fit.rms_excess})
        return out

    def to_dict(self) -> dict:
        d = self.summary()
        d["detail"] = {k: (None if v is None else v.to_dict()) for k, v in (
            ("hidden", self.hidden), ("visible", self.visible),
            ("folded_hidden", self.hidden_folded), ("folded_visible", self.visible_folded))}
        d.update(images=self.images, duration_ms=self.duration_ms, burn_in_ms=self.burn_in_ms,
                 seed=self.seed, wall_s=self.wall_s, phases=self.phases)
        return d


def _visible_states(rbm: RBM, images, labels) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images), dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] not in (rbm.n_pixels, rbm.n_visible) or x.shape[0] < 2:
        raise ValueError(f"images must be (B >= 2, {rbm.n_pixels}) or (B, {rbm.n_visible}), "
                         f"got {tuple(x.shape)}")
    if not ((x == 0) | (x == 1)).all():
        raise ValueError("images must be binary (0/1)")
    if x.shape[1] == rbm.n_visible or rbm.n_labels == 0:
        return x
    if labels is None:
        raise ValueError("labels are needed to clamp the label units (or pass full visible "
                         "states)")
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if y.shape != (x.shape[0],) or int(y.min()) < 0 or int(y.max()) >= rbm.n_labels:
        raise ValueError(f"labels must be ({x.shape[0]},) integers in [0, {rbm.n_labels})")
    return torch.cat([x, torch.nn.functional.one_hot(y, rbm.n_labels).double()], 1)


def measure_fidelity(rbm: RBM, calibration: Calibration, images, labels=None, *,
                     duration_ms: float = 1000.0, burn_in_ms: float = 50.0, seed: int = 0,
                     device: str = "auto", correction: LayerCorrection | None = None,
                     bias_offset: torch.Tensor | None = None,
                     synapse: SynapseParams | None = None, noise: NoiseParams | None = None,
                     folded: bool = True, stagger: bool = True,
                     phases: int = DEFAULT_PHASES) -> FidelityReport:
    """Clamped-conditional fidelity of the spiking network of ``rbm`` (see module docstring).

    ``images`` (B, n_pixels) binary with ``labels`` (B,), or full visible states (B,
    n_visible). Hidden direction: the visible layer clamped by spiking to each state (one
    chain each), hidden on-fractions against sigma(b_h + Wᵀv). Visible direction: the hidden
    layer clamped to one draw h ~ p(h | v) per state, visible on-fractions against
    sigma(b_v + W h). Each state is measured for ``duration_ms`` in all, as ``phases`` (>= 2)
    independent runs of ``duration_ms / phases`` after ``burn_in_ms`` each (ms; at least tau_ref
    with ``stagger``, the random onsets of :func:`lifsampling.spiking_rbm.clamp_by_spiking`,
    drawn anew for every run; ``stagger=False`` clamps in lockstep). Clamped-on neurons fire
    periodically, so the phases they are started with stay fixed for a whole run and the
    free units' response depends on them: one run's error does not shrink with its length.
    Averaging over ``phases`` draws of them does (module docstring). ``correction``
    and ``bias_offset`` are passed to :func:`lifsampling.spiking_rbm.build_network`.
    """
    rbm = _check_rbm(rbm)
    if not duration_ms > 0 or burn_in_ms < 0:
        raise ValueError(f"need duration_ms > 0 and burn_in_ms >= 0, got {duration_ms}, "
                         f"{burn_in_ms}")
    if stagger and burn_in_ms < calibration.neuron.tau_ref_ms:
        raise ValueError(f"with stagger, burn_in_ms must be >= tau_ref "
                         f"({calibration.neuron.tau_ref_ms} ms)")
    if not isinstance(phases, int | np.integer) or phases < 2:
        raise ValueError(f"phases must be an integer >= 2, got {phases!r}")
    t0 = time.perf_counter()
    v = _visible_states(rbm, images, labels)
    B, nv = v.shape[0], rbm.n_visible
    net = build_network(rbm, calibration, synapse=synapse, noise=noise, correction=correction,
                        bias_offset=bias_offset)
    pos, neg = rbm.W.clamp(min=0), rbm.W.clamp(max=0)
    a_h = (rbm.b_h + v @ rbm.W).numpy()
    stagger_seed = seed if stagger else None
    clamped, sched = clamp_by_spiking(net, slice(0, nv), _replicate(v, phases),
                                      stagger_seed=stagger_seed)
    p, halves = _run(clamped, B, phases, duration_ms, burn_in_ms, seed, device, sched)
    hidden = conditional_fit(p[:, nv:], expit(a_h), a_h, halves[:, :, nv:],
                             seed=seed)
    raw = {"hidden": (p[:, nv:], rbm.b_h.expand(B, -1).numpy(), (v @ pos).numpy(),
                      (v @ neg).numpy())}
    g = torch.Generator().manual_seed(seed)
    h = (torch.rand(B, rbm.n_hidden, generator=g, dtype=torch.float64)
         < torch.sigmoid(torch.as_tensor(a_h))).double()
    a_v = (rbm.b_v + h @ rbm.W.T).numpy()
    clamped, sched = clamp_by_spiking(net, slice(nv, rbm.n), _replicate(h, phases),
                                      stagger_seed=None if stagger_seed is None
                                      else stagger_seed + 1)
    p, halves = _run(clamped, B, phases, duration_ms, burn_in_ms, seed + 2, device, sched)
    visible = conditional_fit(p[:, :nv], expit(a_v), a_v, halves[:, :, :nv],
                              seed=seed)
    raw["visible"] = (p[:, :nv], rbm.b_v.expand(B, -1).numpy(), (h @ pos.T).numpy(),
                      (h @ neg.T).numpy())
    fh = fv = None
    if folded:  # the activation function alone: no synapses, so no correction applies
        p, halves = _run(_folded_network(_replicate(torch.as_tensor(a_h), phases),
                                         calibration, noise),
                         B, phases, duration_ms, burn_in_ms, seed + 4, device)
        fh = conditional_fit(p, expit(a_h), a_h, halves, seed=seed)
        p, halves = _run(_folded_network(_replicate(torch.as_tensor(a_v), phases),
                                         calibration, noise),
                         B, phases, duration_ms, burn_in_ms, seed + 6, device)
        fv = conditional_fit(p, expit(a_v), a_v, halves, seed=seed)
    return FidelityReport(hidden, visible, fh, fv, B, duration_ms, burn_in_ms, seed,
                          time.perf_counter() - t0, raw, phases)


def _layer_response(p: np.ndarray, b: np.ndarray, a_exc: np.ndarray, a_inh: np.ndarray
                    ) -> np.ndarray:
    """(k_b, k_exc, k_inh, c) of p ≈ sigma(k_b b + k_exc A⁺ + k_inh A⁻ + c): the on-fractions
    regressed on the bias and the input through the positive and negative weights."""
    X = np.stack([b.ravel(), a_exc.ravel(), a_inh.ravel(), np.ones(p.size)], 1)
    return _logistic_regression(X, p.ravel(), np.array([1.0, 1.0, 1.0, 0.0]))


def fit_corrections(rbm: RBM, calibration: Calibration, images, labels=None, *,
                    iterations: int = 3, duration_ms: float = 400.0, burn_in_ms: float = 50.0,
                    seed: int = 0, device: str = "auto", synapse: SynapseParams | None = None,
                    stagger: bool = True, phases: int = DEFAULT_PHASES
                    ) -> tuple[LayerCorrection, list[dict]]:
    """Per-layer coupling scales (excitatory and inhibitory apart) and bias shifts measured on
    pilot runs of this network.

    Each iteration measures the clamped conditionals (:func:`measure_fidelity`, spiking clamp)
    of the network built with the current correction on ``images`` (pilot images, e.g.
    training images, never the evaluation set) and fits, per layer, logit p_LIF ≈ k_b b +
    k_e A⁺ + k_i A⁻ + c against the RBM's bias b and inputs A± through its positive and
    negative weights (:func:`_layer_response`). A network built with gains K and offset C
    answers with k·K and c + k_b C, which the next network divides out. Only the network's own
    responses to clamped inputs enter, never the target's marginals. Returns the correction
    and, per iteration, the fidelity figures and fitted coefficients.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    corr, history = LayerCorrection(), []
    for it in range(iterations):
        rep = measure_fidelity(rbm, calibration, images, labels, duration_ms=duration_ms,
                               burn_in_ms=burn_in_ms, seed=seed + 100 * it, device=device,
                               correction=corr, synapse=synapse, folded=False,
                               stagger=stagger, phases=phases)
        new, coef = {}, {}
        for layer in ("hidden", "visible"):
            kb, ke, ki, c = _layer_response(*rep.raw[layer])
            if not all(np.isfinite([kb, ke, ki, c])) or min(kb, ke, ki) <= 0:
                raise ValueError(f"could not fit the {layer} layer's response "
                                 f"(coefficients {kb:.3g}, {ke:.3g}, {ki:.3g}, {c:.3g})")
            gb, ge, gi, off = corr.gains(layer)
            coef[layer] = {"bias": kb, "exc": ke, "inh": ki, "offset": c}
            new.update({f"gain_{layer}": kb * gb, f"gain_exc_{layer}": ke * ge,
                        f"gain_inh_{layer}": ki * gi, f"offset_{layer}": c + kb * off})
        history.append({"iteration": it, **rep.summary(), "coefficients": coef})
        corr = LayerCorrection(**new)
    return corr, history


CORRECTION_SCHEMA = "lifsampling.correction/1"


def save_correction(path, correction: LayerCorrection, **meta) -> None:
    """Write a layer correction (and how it was measured, ``meta``) as JSON, atomically."""
    from .io import write_json

    write_json(path, {"schema": CORRECTION_SCHEMA, "layer": correction.to_dict(), **meta})


def load_correction(path) -> LayerCorrection:
    """Read a correction written by :func:`save_correction`; one-line errors if invalid."""
    from .io import read_json

    d = read_json(path, "correction file")
    if not isinstance(d, dict) or d.get("schema") != CORRECTION_SCHEMA or "layer" not in d:
        raise ValueError(f"{path} is not a correction file (schema {CORRECTION_SCHEMA!r})")
    try:
        return LayerCorrection.from_dict(d["layer"])
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
