r"""The spiking classification RBM: a trained RBM (pixels + one-hot labels in the visible layer)
mapped onto LIF samplers, used to classify (labels read out with the image clamped) and to
generate (free running, visible layer read every 10 ms).

Mapping (:mod:`lifsampling.mapping`, seed 000): the RBM over z = (v, h),
p(z) ∝ exp(b_vᵀv + b_hᵀh + vᵀWh), is the Boltzmann machine with the block weight matrix
[[0, W], [Wᵀ, 0]]; each unit becomes a neuron with leak E_l = u0 + alpha b and each weight a
conductance (row = presynaptic). Unit order in the network: visible (pixels, then labels), then
hidden, as in :meth:`lifsampling.boltzmann.RBM.to_boltzmann`.

**Clamping an image** (classification). Clamping the pixels x of an RBM leaves an RBM between
the labels y and the hidden units whose hidden biases are b_h + Wₓᵀx (the clamped units' input
is constant), so instead of driving 784 pixel neurons with strong leak potentials we fold the
image into the hidden leak potentials and simulate only the 10 + n_h label and hidden neurons:
exact for the clamped distribution p(y, h | x), 2.5× fewer neurons, and no dependence on how
"strong" a clamp is. Each chain (batch row) gets its own image through a per-chain leak
potential (B, N). The synaptic conductances depend (weakly, through the free-membrane mean mu)
on the postsynaptic leak; with one weight matrix for all chains they are computed at the
batch-mean leak potential. The label read-out is the time fraction each label neuron is
refractory (z = 1), the sampled marginal p(y_k = 1 | x); the predicted class is its argmax
(ties and all-zero rows, rare after ~100 ms, go to the lowest index).

**Generation.** The full network (n_v + n_h neurons) runs freely; the state z is read every
``sample_every_ms`` (10 ms = tau_ref, sbs ``time_per_sample``; research/lif_sampling.md §2).
Chains start from their leak potentials or, with ``init``, from a given state imposed by
shifting the leak potentials ±``INIT_SHIFT_MV`` for the first tau_ref (the shift is then
released and a burn-in follows).

**Neuron.** The default calibration (:func:`default_calibration`, shipped as
``data/calibration_fast_membrane.json``) is the sbs tutorial neuron with the membrane time
constant of the parameters attributed to Leng et al. 2018, tau_m = 0.1 ms (g_l = 2 µS instead of
0.2 µS; research/lif_sampling.md §3.3), under the sbs 3 kHz ±1 nS background: u0 = -50.08 mV,
alpha = 0.074 mV. With the 1 ms sbs neuron (alpha 0.80 mV) the conductances that map a trained
MNIST RBM are as large as the leak conductance: a hidden neuron with ~100 active inputs sees its
conditional compressed (measured logit gain 0.65, offset +0.6; :mod:`lifsampling.fidelity`),
spurious hidden activity results and the free-running network without STP fades to blank
images (mean pixel 0.003 against the data's 0.13). The fast membrane makes the synaptic
conductances ~10x smaller relative to g_tot, and the same RBM then dreams with a mean pixel of
0.15.

**Short-term plasticity** (:mod:`lifsampling.engine.synapses`). ``synapse`` selects renewing
synapses (LIF sampling without STP), or Tsodyks–Markram depression; :func:`renormalise_stp`
sets the weight scale so that the mean transmitted weight, averaged over the spikes of a pilot
run of this very network, equals the calibrated static weight (Leng et al. 2018: the
"expectation value of synaptic weights can be maintained").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .boltzmann import RBM
from .calibration import Calibration, load_calibration
from .engine import Network, Record, SimulationState, simulate
from .engine.synapses import renormalised_stp, replay_mean_efficacy
from .mapping import biases_to_leak, bm_to_network, weights_to_conductances
from .params import NoiseParams, SynapseParams

DEFAULT_SAMPLE_EVERY_MS = 10.0  # sbs time_per_sample = tau_ref (research/lif_sampling.md §2)
INIT_SHIFT_MV = 20.0  # leak shift that forces a unit on/off while an initial state is imposed

__all__ = [
    "ClassificationResult", "SpikingRBMSampler", "SpikingSamples", "build_network",
    "clamp_by_spiking", "clamped_network", "classify", "default_calibration", "generate",
    "LayerCorrection", "renormalise_stp", "DEFAULT_SAMPLE_EVERY_MS",
]


def default_calibration() -> Calibration:
    """``load_calibration("fast-membrane")``, the generative network's neuron (module docstring);
    new code calls :func:`lifsampling.calibration.load_calibration` directly."""
    return load_calibration("fast-membrane")


def _check_rbm(rbm) -> RBM:
    if not isinstance(rbm, RBM):
        raise ValueError(f"expected an RBM, got {type(rbm).__name__}")
    return rbm.to(device="cpu", dtype=torch.float64)


@dataclass(frozen=True)
class LayerCorrection:
    """Measured effective conditionals of the spiking RBM, per layer (see
    :func:`lifsampling.fidelity.fit_corrections`): logit p_LIF(unit on | other layer) ≈
    gain · b + gain_exc · A⁺ + gain_inh · A⁻ + offset, with A± the input through the positive
    and negative weights (gain_exc/gain_inh default to gain). ``build_network(...,
    correction=c)`` maps W⁺/gain_exc and W⁻/gain_inh onto the synapses into that layer and
    (b - offset)/gain onto its leak potentials, so that the corrected conditional is the RBM's."""

    gain_hidden: float = 1.0
    offset_hidden: float = 0.0
    gain_visible: float = 1.0
    offset_visible: float = 0.0
    gain_exc_hidden: float | None = None
    gain_inh_hidden: float | None = None
    gain_exc_visible: float | None = None
    gain_inh_visible: float | None = None

    def gains(self, layer: str) -> tuple[float, float, float, float]:
        """(bias gain, excitatory gain, inhibitory gain, offset) of ``layer``."""
        if layer not in ("hidden", "visible"):
            raise ValueError(f"layer must be 'hidden' or 'visible', got {layer!r}")
        g = getattr(self, f"gain_{layer}")
        ge, gi = (getattr(self, f"gain_{k}_{layer}") for k in ("exc", "inh"))
        return (g, g if ge is None else ge, g if gi is None else gi,
                getattr(self, f"offset_{layer}"))

    def to_dict(self) -> dict:
        return {k: None if v is None else float(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> LayerCorrection:
        """Inverse of :meth:`to_dict`; unknown keys or non-positive gains are refused."""
        if not isinstance(d, dict):
            raise ValueError("a correction must be a JSON object")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown correction keys: {', '.join(sorted(unknown))}")
        try:
            c = cls(**{k: None if v is None else float(v) for k, v in d.items()})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid correction values: {exc}") from None
        for layer in ("hidden", "visible"):
            *g, off = c.gains(layer)
            if not all(np.isfinite(x) and x > 0 for x in g) or not np.isfinite(off):
                raise ValueError(f"correction gains must be finite and > 0 ({layer}: {g})")
        return c


def build_network(rbm: RBM, calibration: Calibration, *, synapse: SynapseParams | None = None,
                  noise: NoiseParams | None = None,
                  correction: LayerCorrection | None = None,
                  bias_offset: torch.Tensor | None = None) -> Network:
    """The full spiking network of ``rbm`` (visible units first, then hidden).

    ``correction`` rescales the synapses into each layer and shifts its biases
    (:class:`LayerCorrection`); ``bias_offset`` (N,) is added to the (corrected) biases before
    they become leak potentials (e.g. the self-consistent offsets of
    :func:`lifsampling.corrections.self_consistent_biases`); the translation otherwise is
    :func:`lifsampling.mapping.bm_to_network`.
    """
    rbm = _check_rbm(rbm)
    if bias_offset is not None:
        bias_offset = torch.as_tensor(bias_offset, dtype=torch.float64)
        if bias_offset.shape != (rbm.n,) or not torch.isfinite(bias_offset).all():
            raise ValueError(f"bias_offset must be ({rbm.n},) finite values")
    if correction is None:
        bm = rbm.to_boltzmann()
        return bm_to_network(bm.W, bm.b, calibration, synapse=synapse, noise=noise,
                             bias_offset=bias_offset)
    gv, ev, iv, ov = correction.gains("visible")
    gh, eh, ih, oh = correction.gains("hidden")
    nv = rbm.n_visible
    b = torch.cat([(rbm.b_v - ov) / gv, (rbm.b_h - oh) / gh])
    if bias_offset is not None:
        b = b + bias_offset
    n = rbm.n
    Wd = torch.zeros(n, n, dtype=torch.float64)  # directed: row = presynaptic
    pos, neg = rbm.W.clamp(min=0), rbm.W.clamp(max=0)
    Wd[:nv, nv:] = pos / eh + neg / ih           # visible -> hidden synapses
    Wd[nv:, :nv] = (pos / ev + neg / iv).T       # hidden -> visible synapses
    e_leak = biases_to_leak(b, calibration)
    w = weights_to_conductances(Wd, e_leak.numpy(), calibration)
    return Network(weights_uS=w, e_leak_mV=e_leak, neuron=calibration.neuron,
                   noise=noise or calibration.noise, synapse=synapse or SynapseParams())


def clamp_by_spiking(net: Network, idx: slice, states: torch.Tensor, *,
                     stagger_seed: int | None = 0, dt_ms: float = 0.1
                     ) -> tuple[Network, Callable[[float], torch.Tensor] | None]:
    """Clamp units ``idx`` of ``net`` per chain to binary ``states`` (B, k) the way the source
    networks clamp: leak potential + ``INIT_SHIFT_MV`` (the neuron fires at its refractory
    limit, z = 1 almost always) or - ``INIT_SHIFT_MV`` (silent). Their input to the other
    units passes through the simulated synapses.

    Clamped-on neurons are deterministic oscillators (period tau_ref + a step): started
    together they fire in lockstep, and every other neuron then sees a synchronous sawtooth of
    conductance instead of its mean, which it rectifies (a strongly inhibited unit fires in
    the troughs). ``stagger_seed`` (default) switches each clamped-on neuron on at its own
    random step within the first tau_ref (held off before), so the clamped population fires
    at spread phases; ``None`` starts all together. Returns the clamped network and the leak
    schedule to pass to :func:`lifsampling.engine.simulate` (``None`` without stagger); the
    burn-in should be at least tau_ref.
    """
    e = net.e_leak_mV.to(torch.float64).expand(states.shape[0], -1).clone()
    e[:, idx] = e[:, idx] + INIT_SHIFT_MV * (2.0 * states.to(e.dtype) - 1.0)
    clamped = Network(net.weights_uS, e, net.neuron, net.noise, net.synapse)
    if stagger_seed is None:
        return clamped, None
    n_ref = max(1, round(net.neuron.tau_ref_ms / dt_ms))
    g = torch.Generator().manual_seed(stagger_seed)
    onset = torch.zeros_like(e, dtype=torch.long)
    onset[:, idx] = torch.randint(0, n_ref, tuple(states.shape), generator=g)
    on = torch.zeros_like(e, dtype=torch.bool)
    on[:, idx] = states.bool()
    held = e.to(torch.float32)
    off = e.clone()
    off[on] = off[on] - 2.0 * INIT_SHIFT_MV
    off = off.to(torch.float32)

    def schedule(t_ms: float) -> torch.Tensor:  # built step by step: (B, N) each, n_ref of them
        k = int(round(t_ms / dt_ms))
        return torch.where(on & (onset > k), off, held) if k < n_ref else held

    return clamped, schedule


def _as_images(images, n_pixels: int) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(images), dtype=torch.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] != n_pixels:
        raise ValueError(f"images must have shape (n, {n_pixels}), got {tuple(x.shape)}")
    if not ((x == 0) | (x == 1)).all():
        raise ValueError("images must be binary (0/1); binarise them first "
                         "(lifsampling.datasets.binarize)")
    return x


def clamped_network(rbm: RBM, calibration: Calibration, images, *,
                    synapse: SynapseParams | None = None,
                    noise: NoiseParams | None = None) -> Network:
    """Label + hidden network with the binary ``images`` (B, n_pixels) folded into the hidden
    leak potentials, one image per chain: N = n_labels + n_hidden, e_leak (B, N)."""
    rbm = _check_rbm(rbm)
    if rbm.n_labels == 0:
        raise ValueError("this RBM has no label units (n_labels = 0); it cannot classify")
    x = _as_images(images, rbm.n_pixels)
    npix, nl, nh = rbm.n_pixels, rbm.n_labels, rbm.n_hidden
    b_h = rbm.b_h + x @ rbm.W[:npix]                       # (B, n_h)
    b_y = rbm.b_v[npix:].expand(x.shape[0], nl)            # (B, n_labels)
    b = torch.cat([b_y, b_h], dim=1)
    n = nl + nh
    Wf = torch.zeros(n, n, dtype=torch.float64)
    Wf[:nl, nl:] = rbm.W[npix:]
    Wf[nl:, :nl] = rbm.W[npix:].T
    e_leak = biases_to_leak(b, calibration)
    w = weights_to_conductances(Wf, e_leak.mean(0).numpy(), calibration)
    return Network(weights_uS=w, e_leak_mV=e_leak, neuron=calibration.neuron,
                   noise=noise or calibration.noise, synapse=synapse or SynapseParams())


@dataclass
class ClassificationResult:
    """Predicted labels (n,) and label activity (n, n_labels): time fraction with z = 1."""

    predictions: np.ndarray
    label_activity: np.ndarray
    duration_ms: float
    burn_in_ms: float
    wall_s: float
    retried: int = 0  # images read out again (4 x duration) because no label neuron fired

    def accuracy(self, labels) -> float:
        y = np.asarray(labels)
        if y.shape != self.predictions.shape:
            raise ValueError(f"labels must have shape {self.predictions.shape}, got {y.shape}")
        return float((self.predictions == y).mean())


def classify(rbm: RBM, calibration: Calibration, images, *, duration_ms: float = 200.0,
             burn_in_ms: float = 20.0, batch_size: int = 500,
             synapse: SynapseParams | None = None, seed: int = 0, device: str = "auto",
             progress: bool = False, retry_silent: int = 2, clamp: str = "folded",
             correction: LayerCorrection | None = None, phases: int = 1
             ) -> ClassificationResult:
    """Classify binary images with the spiking network (image clamped, labels read out).

    Each image is one chain; ``batch_size`` images run together. The label activity is the
    fraction of the ``duration_ms`` (after ``burn_in_ms``) each label neuron spends refractory.
    Images on which no label neuron fired are read out again for 4 × ``duration_ms`` (up to
    ``retry_silent`` times) instead of being assigned class 0 by a tie.

    ``clamp="folded"`` (default) folds the pixels into the hidden leak potentials
    (:func:`clamped_network`); ``"spiking"`` simulates the whole network with the pixel
    neurons clamped by spiking (:func:`clamp_by_spiking`, staggered onsets), so the
    784 -> hidden conductance path is part of the read-out; ``correction`` then applies
    (:class:`LayerCorrection`). The staggered phases of the clamped pixels stay fixed within a
    run and bias the hidden input a little per image (docs/fidelity.md); ``phases`` > 1 reads
    each image as that many independent runs of ``duration_ms / phases`` (each after its own
    burn-in, with its own phases; ``phases`` x the chains per batch) and averages the label
    activity.
    """
    rbm = _check_rbm(rbm)
    x = _as_images(images, rbm.n_pixels)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if clamp not in ("folded", "spiking"):
        raise ValueError(f"clamp must be 'folded' or 'spiking', got {clamp!r}")
    if not isinstance(phases, int | np.integer) or phases < 1:
        raise ValueError(f"phases must be an integer >= 1, got {phases!r}")
    if clamp == "spiking" and burn_in_ms < calibration.neuron.tau_ref_ms:
        raise ValueError(f"clamp='spiking' needs burn_in_ms >= tau_ref "
                         f"({calibration.neuron.tau_ref_ms} ms)")
    full = build_network(rbm, calibration, synapse=synapse, correction=correction) \
        if clamp == "spiking" else None
    labels = slice(rbm.n_pixels, rbm.n_visible) if clamp == "spiking" else slice(0, rbm.n_labels)

    def read(xb: torch.Tensor, ms: float, s: int) -> np.ndarray:
        xr = xb.repeat_interleave(phases, dim=0)  # each image's runs side by side
        if full is None:
            net, sched = clamped_network(rbm, calibration, xr, synapse=synapse), None
        else:
            net, sched = clamp_by_spiking(full, slice(0, rbm.n_pixels), xr, stagger_seed=s)
        res = simulate(net, ms / phases, chains=xr.shape[0], burn_in_ms=burn_in_ms, seed=s,
                       device=device, e_leak_schedule=sched)
        act = res.on_fraction[:, labels].numpy()
        return act.reshape(xb.shape[0], phases, -1).mean(1)

    t0 = time.perf_counter()
    acts = []
    bar = _bar(progress, x.shape[0], "classifying")
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size]
        acts.append(read(xb, duration_ms, seed + i))
        if bar is not None:
            bar[0].update(bar[1], completed=i + xb.shape[0])
    if bar is not None:
        bar[0].stop()
    act = np.concatenate(acts) if acts else np.zeros((0, rbm.n_labels))
    retried = 0
    for attempt in range(retry_silent):  # no label neuron fired: read out longer
        silent = np.flatnonzero(act.max(1) == 0)
        if silent.size == 0:
            break
        retried += silent.size if attempt == 0 else 0
        for i in range(0, silent.size, batch_size):
            idx = silent[i:i + batch_size]
            act[idx] = read(x[idx], 4 * duration_ms, seed + 7919 * (attempt + 1) + i)
    return ClassificationResult(act.argmax(1), act, duration_ms, burn_in_ms,
                                time.perf_counter() - t0, retried)


@dataclass
class SpikingSamples:
    """Free-running samples: ``states`` (chains, S, n_v + n_h) uint8, visible units first,
    one every ``sample_every_ms``; ``spikes`` (step, chain, neuron) if asked for."""

    states: torch.Tensor
    sample_every_ms: float
    burn_in_ms: float
    synapse: SynapseParams
    n_visible: int
    n_pixels: int
    wall_s: float
    spike_counts: torch.Tensor
    spikes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    dt_ms: float = 0.1
    info: dict = field(default_factory=dict)
    final_state: SimulationState | None = None  # the network's state after the last sample

    @property
    def visible(self) -> torch.Tensor:
        return self.states[..., : self.n_visible]

    @property
    def pixels(self) -> torch.Tensor:
        return self.states[..., : self.n_pixels]


def _init_schedule(net: Network, init: torch.Tensor, tau_ref_ms: float,
                   base: Callable[[float], torch.Tensor] | None):
    """Leak schedule imposing the binary state ``init`` (chains, N) during the first tau_ref."""
    e0 = net.e_leak_mV.to(torch.float32)
    forced = e0 + INIT_SHIFT_MV * (2.0 * init.to(torch.float32) - 1.0)

    free = e0.expand_as(forced)  # one object: the engine compares held values by identity

    def schedule(t_ms: float) -> torch.Tensor:
        if t_ms < tau_ref_ms:
            return forced
        return base(t_ms) if base is not None else free

    return schedule


def generate(rbm: RBM, calibration: Calibration, *, n_samples: int, chains: int = 4,
             synapse: SynapseParams | None = None, noise: NoiseParams | None = None,
             sample_every_ms: float = DEFAULT_SAMPLE_EVERY_MS, burn_in_ms: float = 100.0,
             seed: int = 0, device: str = "auto", init=None,
             e_leak_schedule: Callable[[float], torch.Tensor] | None = None,
             record_spikes: bool = False, progress: bool = False,
             network: Network | None = None, backend: str = "auto",
             correction: LayerCorrection | None = None,
             initial_state: SimulationState | None = None) -> SpikingSamples:
    """Run the full network freely and read its state every ``sample_every_ms``.

    Biological time per chain: ``burn_in_ms + n_samples * sample_every_ms``. ``noise`` replaces
    the background (e.g. an oscillating rate) and ``e_leak_schedule(t_ms)`` the leak
    potentials over time (see :func:`lifsampling.engine.simulate`); ``init`` (N,) or
    (chains, N) or visible-only, binary, is imposed during the first tau_ref of the burn-in.
    ``network`` skips the mapping (e.g. a network from :func:`build_network` reused);
    ``correction`` maps with a :class:`LayerCorrection`. ``initial_state`` (the
    ``final_state`` of earlier samples, of a network of the same size; not with ``init``)
    continues those chains from their full state: membranes, conductances, refractory clocks,
    synaptic resources (:class:`lifsampling.engine.SimulationState`).
    ``backend`` is passed to :func:`lifsampling.engine.simulate` ("auto", "kernel", "torch",
    "torch-compiled").
    """
    rbm = _check_rbm(rbm)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if chains < 1:
        raise ValueError(f"chains must be >= 1, got {chains}")
    if not sample_every_ms > 0:
        raise ValueError(f"sample_every_ms must be > 0, got {sample_every_ms}")
    net = network or build_network(rbm, calibration, synapse=synapse, noise=noise,
                                   correction=correction)
    schedule = e_leak_schedule
    if init is not None and initial_state is not None:
        raise ValueError("give init (a binary state to impose) or initial_state (a full state "
                         "to continue), not both")
    if init is not None:
        z0 = torch.as_tensor(np.asarray(init), dtype=torch.float32)
        if z0.ndim == 1:
            z0 = z0.expand(chains, -1)
        if z0.ndim != 2 or z0.shape[0] != chains or z0.shape[1] not in (rbm.n_visible, rbm.n):
            raise ValueError(f"init must have shape (N,) or (chains, N) with N = {rbm.n} or "
                             f"{rbm.n_visible} (visible only), got {tuple(z0.shape)}")
        if not ((z0 == 0) | (z0 == 1)).all():
            raise ValueError("init must be binary (0/1)")
        if z0.shape[1] == rbm.n_visible:  # hidden units: free (neither forced on nor off)
            z0 = torch.cat([z0, torch.full((chains, rbm.n_hidden), 0.5)], dim=1)
        tau_ref = net.neuron.tau_ref_ms
        if burn_in_ms < tau_ref:
            raise ValueError(f"with init, burn_in_ms must be >= tau_ref ({tau_ref} ms)")
        schedule = _init_schedule(net, z0, tau_ref, e_leak_schedule)
    t0 = time.perf_counter()
    res = simulate(net, n_samples * sample_every_ms, chains=chains, burn_in_ms=burn_in_ms,
                   seed=seed, device=device, progress=progress, e_leak_schedule=schedule,
                   record=Record(z_every_ms=sample_every_ms, spikes=record_spikes),
                   backend=backend, initial_state=initial_state)
    states = res.z_samples[:n_samples].permute(1, 0, 2).to(torch.uint8).contiguous()
    return SpikingSamples(states=states, sample_every_ms=sample_every_ms, burn_in_ms=burn_in_ms,
                          synapse=net.synapse, n_visible=rbm.n_visible, n_pixels=rbm.n_pixels,
                          wall_s=time.perf_counter() - t0, spike_counts=res.spike_counts,
                          spikes=res.spikes, dt_ms=res.dt_ms, final_state=res.final_state)


def renormalise_stp(rbm: RBM, calibration: Calibration, U: float, tau_rec_ms: float, *,
                    pilot_ms: float = 2000.0, chains: int = 4, iterations: int = 2,
                    seed: int = 0, device: str = "auto", target: str = "renewing",
                    noise: NoiseParams | None = None,
                    correction: LayerCorrection | None = None) -> tuple[SynapseParams, dict]:
    """Tsodyks–Markram synapses for ``rbm`` whose spike-averaged transmitted weight equals the
    calibrated static weight.

    Starts from Leng/sbs's ``weight_scale = 1/U``, runs the free network for ``pilot_ms``,
    replays the depression on the recorded spikes (:func:`~lifsampling.engine.synapses.
    replay_mean_efficacy`, the first ``min(3 tau_rec, pilot/2)`` only setting the state) and
    sets ``weight_scale = target / mean(u R)``, where ``target`` is the mean jump a renewing
    synapse (the calibrated LIF-sampling network) makes on the same spikes (``"renewing"``,
    default) or 1 (``"static"``: the additive weight); repeated ``iterations`` times because
    the firing depends on the scale. Returns the synapse and the history of (scale, mean efficacy).
    """
    if not 0 < U <= 1 or not tau_rec_ms > 0:
        raise ValueError(f"need 0 < U <= 1 and tau_rec_ms > 0, got U={U}, tau_rec={tau_rec_ms}")
    if target not in ("renewing", "static"):
        raise ValueError(f"target must be 'renewing' or 'static', got {target!r}")
    if iterations < 1 or not pilot_ms > 0:
        raise ValueError("need iterations >= 1 and pilot_ms > 0")
    syn = SynapseParams(kind="tsodyks_markram", U=U, tau_rec_ms=tau_rec_ms, weight_scale=1.0 / U)
    history = []
    skip = min(3.0 * tau_rec_ms, 0.5 * pilot_ms)
    for it in range(iterations):
        s = generate(rbm, calibration, n_samples=max(1, int(pilot_ms / DEFAULT_SAMPLE_EVERY_MS)),
                     chains=chains, synapse=syn, noise=noise, burn_in_ms=0.0, seed=seed + it,
                     device=device, record_spikes=True, correction=correction)
        steps, ch, ids = s.spikes
        n = rbm.n
        t_ms, keys = steps.numpy() * s.dt_ms, ch.numpy() * n + ids.numpy()
        mean_eff = replay_mean_efficacy(t_ms, keys, U, tau_rec_ms, skip_ms=skip)
        goal = 1.0 if target == "static" else replay_mean_efficacy(
            t_ms, keys, 1.0, calibration.neuron.tau_syn_exc_ms, skip_ms=skip)
        history.append({"weight_scale": syn.weight_scale, "mean_efficacy": mean_eff,
                        "target_efficacy": goal, "spikes": int(steps.numel())})
        syn = renormalised_stp(U, tau_rec_ms, mean_eff, goal)
    return syn, {"history": history, "pilot_ms": pilot_ms, "chains": chains}


class SpikingRBMSampler:
    """The spiking network as a sampler with the classical samplers' interface
    (``sample(model, n, chains, seed, init) -> (chains, n, N)``); one sample per
    ``sample_every_ms`` of biological time."""

    name = "lif"

    def __init__(self, calibration: Calibration, synapse: SynapseParams | None = None, *,
                 noise: NoiseParams | None = None, burn_in_ms: float = 100.0,
                 sample_every_ms: float = DEFAULT_SAMPLE_EVERY_MS, device: str = "auto",
                 name: str | None = None, correction: LayerCorrection | None = None) -> None:
        self.calibration, self.synapse, self.noise = calibration, synapse, noise
        self.correction = correction
        self.burn_in_ms, self.sample_every_ms, self.device = burn_in_ms, sample_every_ms, device
        if name:
            self.name = name
        self.info: dict = {}
        self.last: SpikingSamples | None = None

    def sample(self, model, n: int, chains: int = 1, seed: int | None = 0,
               init: torch.Tensor | None = None) -> torch.Tensor:
        s = generate(model, self.calibration, n_samples=n, chains=chains, synapse=self.synapse,
                     noise=self.noise, sample_every_ms=self.sample_every_ms,
                     burn_in_ms=self.burn_in_ms, seed=0 if seed is None else seed,
                     device=self.device, init=init, correction=self.correction)
        self.last = s
        self.info = {"sampler": self.name, "sweeps_per_sample": None,
                     "biological_ms_per_sample": self.sample_every_ms,
                     "burn_in_ms": self.burn_in_ms, "synapse": s.synapse.to_dict(),
                     "wall_s": s.wall_s}
        return s.states.to(model.dtype)


def _bar(enabled: bool, total: int, what: str, done: int = 0):
    """A rich progress bar (and its task) of ``total`` items, ``done`` already, or None."""
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    p = Progress(f"[progress.description]{what}", BarColumn(), "{task.completed}/{task.total}",
                 TimeRemainingColumn(), transient=True)
    p.start()
    return p, p.add_task(what, total=total, completed=done)
