"""A network of LIF neurons and :func:`simulate`, the one time loop (its schedule: the
module docstring of :mod:`lifsampling.engine`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..params import NeuronParams, NoiseParams, SynapseParams
from .fused import compiled_step
from .monitors import Record, SimulationResult
from .neuron import LIFState, initial_state, lif_step, make_constants
from .noise import PoissonBackground
from .slots import PlasticityRule, PoissonDrive, PoissonInput, StepView, project
from .state import SimulationState, check_state, continued_seed
from .synapses import STPState, initial_stp_state, make_stp_constants, propagate, stp_step

MEMORY_LIMIT_BYTES = 4 * 1024**3
MAX_JOINT_UNITS = 20
SMALL_PROBLEM_ELEMENTS = 65_536  # chains x neurons below which the CPU runs single-threaded


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present; otherwise the named device, validated."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:k]'")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return torch.device(device)


@dataclass(frozen=True)
class Network:
    """N conductance-based LIF neurons with recurrent synapses and Poisson background.

    ``weights_uS[i, j]`` is the synapse from neuron i to neuron j in µS: positive weights are
    excitatory (reversal E_exc), negative inhibitory (E_inh, conductance |w|). ``e_leak_mV`` is
    (N,) or (B, N) (a different leak per chain, e.g. to clamp a different image in each chain).
    """

    weights_uS: torch.Tensor
    e_leak_mV: torch.Tensor
    neuron: NeuronParams = field(default_factory=NeuronParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    synapse: SynapseParams = field(default_factory=SynapseParams)

    @property
    def n(self) -> int:
        return int(self.e_leak_mV.shape[-1])

    def validate(self) -> None:
        self.neuron.validate()
        self.noise.validate()
        self.synapse.validate()
        w = self.weights_uS
        if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] != self.n:
            raise ValueError(f"weights_uS must be ({self.n}, {self.n}), got {tuple(w.shape)}")
        if not torch.isfinite(w).all() or not torch.isfinite(self.e_leak_mV).all():
            raise ValueError("weights and leak potentials must be finite")


def _estimate_bytes(net: Network, chains: int, steps: int, dt: float, rec: Record) -> int:
    n = net.n
    total = 0
    if rec.z_every_ms:
        total += int(steps * dt / rec.z_every_ms + 1) * chains * n
    if rec.trace_neurons:
        total += steps * chains * len(rec.trace_neurons) * 3 * 4
    if rec.spikes:  # at most one spike per neuron per tau_ref
        total += int(steps / max(1, round(net.neuron.tau_ref_ms / dt)) + 1) * chains * n * 24
    if rec.joint_states:
        total += chains * 2**n * 8
    return total


@contextmanager
def _cpu_threads(device: torch.device, elements: int):
    """Run small CPU problems on one thread: per-step tensors of a few thousand elements gain
    nothing from intra-op parallelism, and its spin-waiting slows them down many-fold when the
    cores are shared."""
    if device.type != "cpu" or elements >= SMALL_PROBLEM_ELEMENTS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class _Slots:
    """The pluggable parts of one run (see :mod:`.slots`)."""

    input: PoissonInput | None = None
    drive: tuple[PoissonDrive, ...] = ()
    plasticity: tuple[PlasticityRule, ...] = ()
    recorders: tuple[Callable[[StepView], None], ...] = ()
    many_rules: bool = False  # plasticity was given as a sequence: results as lists


BACKENDS = ("auto", "kernel", "torch", "torch-compiled")


def simulate(net: Network, duration_ms: float, *, chains: int = 1, dt_ms: float = 0.1,
             burn_in_ms: float = 0.0, seed: int = 0, device: str | torch.device = "auto",
             dtype: torch.dtype = torch.float32, record: Record | None = None,
             v0_mV: float | None = None, progress: bool = False,
             e_leak_schedule: Callable[[float], torch.Tensor] | None = None,
             input: PoissonInput | None = None, drive: Sequence[PoissonDrive] = (),
             plasticity: PlasticityRule | Sequence[PlasticityRule] | None = None,
             recorders: Sequence[Callable[[StepView], None]] = (),
             backend: str = "auto", initial_state: SimulationState | None = None,
             memory_limit_bytes: int = MEMORY_LIMIT_BYTES) -> SimulationResult:
    """Run ``chains`` independent copies of ``net`` for ``burn_in_ms + duration_ms``.

    Every step follows the schedule of :mod:`lifsampling.engine` (drive -> membrane ->
    STP -> propagation -> plasticity -> recording); the keyword arguments plug components into
    its slots. Randomness comes only from ``seed``: the same seed gives the same spikes on the
    same device and backend. Membranes start at ``v0_mV`` (default: their leak potential).

    - ``initial_state``: a :class:`~.state.SimulationState` (``result.final_state`` of an
      earlier run, whose shapes (chains, N) and ``dt_ms`` it must have) to continue from
      instead of the default start; the burn-in then runs from it. The network's weights and
      leaks may differ from the run that produced it (the last step's spikes are delivered
      through the new weights). The clock goes on: background rates and ``e_leak_schedule`` see
      ``t_ms`` counted from the first run's start, and the kernel's random stream continues,
      so a kernel run continued with the same seed is the uninterrupted run; the torch path
      seeds its generator from (seed, ``initial_state.step``) and never replays the numbers
      of the run before. Every run returns its last state as ``result.final_state``.

    - ``e_leak_schedule(t_ms)``, if given, returns the leak potentials (N,) or (B, N) in mV for
      the step starting at ``t_ms`` (from the start of the burn-in, or of the first run of an
      ``initial_state``), e.g. to track the drift of
      the activation function's midpoint under an oscillating background (a current I(t) is the
      leak shift I / g_l).
    - ``input``: a :class:`~.slots.PoissonInput` population projecting onto the network;
      ``drive``: extra :class:`~.slots.PoissonDrive` inputs (drive slot).
    - ``plasticity``: a :class:`~.slots.PlasticityRule` component (e.g.
      :class:`lifsampling.plasticity.PlasticProjection`), or a sequence of them (stepped in
      order); the final state and weights are returned as ``result.plasticity_state`` /
      ``result.plastic_weights_uS`` (lists for a sequence).
    - ``recorders``: callables receiving a :class:`~.slots.StepView` after every recorded step.

    ``backend``: ``"kernel"`` is the compiled CPU kernel (:mod:`.cpu_kernel`, numba; 5-15x
    the torch path, float32 or float64); ``"torch"`` the eager torch path (CPU or CUDA, every
    slot); ``"torch-compiled"`` the torch path with the element-wise work of a step as one
    ``torch.compile``-d kernel (:mod:`.fused`; worth it for large B x N; the first call compiles
    for a minute; constant background rates only); ``"auto"`` (default) the kernel where it can
    run the simulation (:func:`.cpu_kernel.unsupported_reason`, and for the slot components
    :func:`.kernel_slots.unsupported_reason`) and the torch path otherwise.
    An explicit backend that cannot run a configuration raises ``ValueError`` saying why. The
    backends draw different (equally valid) random numbers for a seed; without randomness they
    give the same spikes.
    """
    if not duration_ms > 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    if burn_in_ms < 0 or not dt_ms > 0:
        raise ValueError("burn_in_ms must be >= 0 and dt_ms > 0")
    if chains < 1:
        raise ValueError(f"chains must be >= 1, got {chains}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use {', '.join(map(repr, BACKENDS))}")
    rec = record or Record()
    net.validate()
    if initial_state is not None:
        check_state(initial_state, chains, net.n, dt_ms, v0_mV)
    dev = resolve_device(device)
    rules = (() if plasticity is None else
             tuple(plasticity) if isinstance(plasticity, Sequence) else (plasticity,))
    for rule in rules:
        if not isinstance(rule, PlasticityRule):
            raise ValueError(f"plasticity components need pre, shared, init, step and finish "
                             f"(engine.PlasticityRule); got {type(rule).__name__}")
        if rule.pre not in ("network", "input"):
            raise ValueError(f"plasticity.pre must be 'network' or 'input', got {rule.pre!r}")
        if rule.pre == "input" and input is None:
            raise ValueError("a plastic projection with pre='input' needs simulate(..., "
                             "input=PoissonInput(...))")
    slots = _Slots(input, tuple(drive), rules, tuple(recorders),
                   isinstance(plasticity, Sequence))
    if backend in ("kernel", "auto"):
        from .cpu_kernel import unsupported_reason
        from .kernel_slots import unsupported_reason as slots_reason

        reason = (unsupported_reason(net, rec, e_leak_schedule, dev,
                                     initial_state=initial_state, plasticity=rules)
                  or slots_reason(slots))
        if reason is None:
            return _run_kernel(net, duration_ms, chains, dt_ms, burn_in_ms, seed, dtype, rec,
                               v0_mV, progress, memory_limit_bytes, e_leak_schedule, slots,
                               initial_state)
        if backend == "kernel":
            raise ValueError(f"backend='kernel' cannot run this simulation: {reason}")
    fused = backend == "torch-compiled"
    if fused and net.noise.time_varying:
        raise ValueError("backend='torch-compiled' cannot run this simulation: time-varying "
                         "background rates run on backend='torch' or 'kernel'")
    with _cpu_threads(dev, chains * net.n):
        if fused:
            with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
                torch.manual_seed(continued_seed(seed, _clock(initial_state)))
                return _run(net, duration_ms, chains, dt_ms, burn_in_ms, seed, dev, dtype, rec,
                            v0_mV, progress, e_leak_schedule, memory_limit_bytes, slots,
                            fused=True, start=initial_state)
        return _run(net, duration_ms, chains, dt_ms, burn_in_ms, seed, dev, dtype, rec, v0_mV,
                    progress, e_leak_schedule, memory_limit_bytes, slots, start=initial_state)


def _clock(start: SimulationState | None) -> int:
    """The step a run starts at: 0, or the clock of the state it continues."""
    return 0 if start is None else int(start.step)


def _add(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return b
    return a if b is None else a + b


def _one_or_list(states: list, weights: list, slots: _Slots) -> tuple:
    """The plasticity results as given: one component -> its own, a sequence -> lists."""
    if slots.many_rules:
        return list(states), list(weights)
    if not slots.plasticity:
        return None, None
    return states[0], weights[0]


def _run(net: Network, duration_ms: float, chains: int, dt_ms: float, burn_in_ms: float,
         seed: int, dev: torch.device, dtype: torch.dtype, rec: Record, v0_mV: float | None,
         progress: bool, e_leak_schedule: Callable[[float], torch.Tensor] | None,
         memory_limit_bytes: int, slots: _Slots, fused: bool = False,
         start: SimulationState | None = None) -> SimulationResult:
    """The torch path: the schedule of :mod:`lifsampling.engine`, one slot after the other
    (from ``start`` if given: :mod:`.state`)."""
    n = net.n
    steps = round(duration_ms / dt_ms)
    burn = round(burn_in_ms / dt_ms)
    step0 = _clock(start)
    _check_recording(net, chains, steps, dt_ms, rec, memory_limit_bytes)

    gen = torch.Generator(device=dev)
    gen.manual_seed(continued_seed(seed, step0))
    e_leak = net.e_leak_mV.to(device=dev, dtype=dtype)
    c = make_constants(net.neuron, e_leak, dt_ms)
    if start is None:
        state = initial_state(chains, n, c, v0_mV=v0_mV, device=dev, dtype=dtype)
    else:
        start = start.to(dev, dtype)
        state = LIFState(start.v_mV.clone(), start.g_exc_uS.clone(), start.g_inh_uS.clone(),
                         start.refrac_steps.clone())
    noise = PoissonBackground(net.noise, dt_ms, dev, dtype)
    silent = (not net.noise.time_varying and net.noise.rate_exc_hz == 0
              and net.noise.rate_inh_hz == 0)  # no background: nothing to draw
    w = net.weights_uS.to(device=dev, dtype=dtype)
    w_split = torch.cat([w.clamp(min=0), (-w).clamp(min=0)], dim=1).contiguous()
    has_recurrent = bool((w != 0).any())
    sc = make_stp_constants(net.synapse, net.neuron, dt_ms)
    stp = (initial_stp_state(chains, n, sc, dev, dtype) if start is None else
           STPState(start.stp_resources.clone(), start.stp_utilisation.clone()))

    # drive slot: input population and extra Poisson drive
    inp = slots.input
    if inp is not None:
        p_in, fixed_in = inp.prepare(chains, n, dt_ms, dev, dtype)
        p_mother = inp.mother_probability(p_in)
        if p_mother is not None:  # sources copy the mother's spikes (MIP)
            p_in = torch.where(p_mother > 0, p_in / p_mother.clamp(min=1e-300), 0.0)
    drives = [d.prepare(chains, n, dt_ms, dev, dtype) + (d.w_exc_uS, d.w_inh_uS)
              for d in slots.drive]
    # plasticity slot: one (state, weights) per component
    rules = slots.plasticity
    pstate, pw = [], []
    for rule in rules:
        n_pre = n if rule.pre == "network" else inp.n
        s0, w0 = rule.init(chains, n_pre, n, device=dev, dtype=dtype, dt_ms=dt_ms)
        pstate.append(s0)
        pw.append(w0)
    from_input = [j for j, r in enumerate(rules) if r.pre == "input"]
    recurrent = [j for j, r in enumerate(rules) if r.pre == "network"]

    spike_counts = torch.zeros(chains, n, dtype=torch.int64, device=dev)
    in_counts = (torch.zeros(chains, inp.n, dtype=torch.int64, device=dev)
                 if inp is not None else None)
    on_steps = torch.zeros(chains, n, dtype=torch.int64, device=dev)
    spike_log: list[tuple[int, torch.Tensor, torch.Tensor]] = []
    z_every = max(1, round(rec.z_every_ms / dt_ms)) if rec.z_every_ms else 0
    z_list: list[torch.Tensor] = []
    tr_idx = torch.as_tensor(rec.trace_neurons, dtype=torch.long, device=dev)
    traces: dict[str, list[torch.Tensor]] = {"v": [], "g_exc": [], "g_inh": []}
    joint = (torch.zeros(chains * 2**n, dtype=torch.int64, device=dev)
             if rec.joint_states else None)
    if joint is not None:
        bits = 2 ** torch.arange(n - 1, -1, -1, device=dev)
        chain_offset = torch.arange(chains, device=dev) * 2**n

    pend_e: torch.Tensor | None = None  # recurrent jumps of the previous step (1-step delay)
    pend_i: torch.Tensor | None = None
    if start is not None:  # the last step of the run continued: its spikes are in flight
        if has_recurrent:
            jumps = propagate(start.efficacy, start.refrac_steps == c.n_ref, w_split, n)
            if jumps is not None:
                pend_e, pend_i = jumps
        for j in recurrent:
            pend_e = _add(pend_e, project(start.efficacy, pw[j]))
    efficacy = torch.zeros(chains, n, device=dev, dtype=dtype)  # stays 0 without STP steps
    if fused:
        step = compiled_step()
        zeros = torch.zeros(chains, n, device=dev, dtype=dtype)
    t0 = time.perf_counter()
    bar = _progress(progress, burn + steps)
    for k in range(burn + steps):
        t_ms = (step0 + k) * dt_ms
        if e_leak_schedule is not None:
            c = c._replace(e_leak=torch.as_tensor(e_leak_schedule(t_ms), device=dev, dtype=dtype))
        # 1. drive: background (inside the fused step), input population, extra Poisson drive,
        #    and the recurrent jumps of the previous step
        ext_e, ext_i = pend_e, pend_i
        s_in = None
        if inp is not None:
            s_in = torch.rand((chains, inp.n), generator=gen, device=dev, dtype=dtype) < p_in
            if p_mother is not None:
                s_in &= torch.rand((chains, 1), generator=gen, device=dev,
                                   dtype=dtype) < p_mother
            x_in = s_in.to(dtype)
            in_e, in_i = fixed_in(x_in)
            ext_e, ext_i = _add(ext_e, in_e), _add(ext_i, in_i)
            for j in from_input:
                ext_e = _add(ext_e, project(x_in, pw[j]))
        for mean_e, mean_i, we, wi in drives:
            if mean_e is not None:
                ext_e = _add(ext_e, torch.poisson(mean_e, generator=gen) * we)
            if mean_i is not None:
                ext_i = _add(ext_i, torch.poisson(mean_i, generator=gen) * wi)
        if fused:
            # 1-3 in one compiled function: background, lif_step, stp_step
            state, stp, spikes, z, efficacy = step(
                state, stp, zeros if ext_e is None else ext_e,
                zeros if ext_i is None else ext_i, c, sc, *noise.table())
        else:
            if not silent:
                bg_e, bg_i = noise.draw((chains, n), t_ms + 0.5 * dt_ms, gen)
                ext_e, ext_i = _add(bg_e, ext_e), _add(bg_i, ext_i)
            # 2. membrane, threshold, refractoriness
            state, spikes, z = lif_step(state, c, ext_e, ext_i)
            # 3. synaptic efficacy (short-term plasticity)
            if has_recurrent or recurrent:
                stp, efficacy = stp_step(stp, sc, spikes)
        # 4. propagation: this step's spikes land at the end of the next step
        pend_e = pend_i = None
        if has_recurrent:
            jumps = propagate(efficacy, spikes, w_split, n)
            if jumps is not None:
                pend_e, pend_i = jumps
        for j in recurrent:
            pend_e = _add(pend_e, project(efficacy, pw[j]))
        # 5. plasticity
        for j, rule in enumerate(rules):
            pstate[j], pw[j] = rule.step(pstate[j], s_in if rule.pre == "input" else spikes,
                                         spikes, pw[j], dt_ms, gen)
        # 6. recording
        if k >= burn:
            kk = k - burn
            spike_counts += spikes
            on_steps += z
            if in_counts is not None:
                in_counts += s_in
            if rec.spikes and bool(spikes.any()):
                ch, ids = torch.nonzero(spikes, as_tuple=True)
                spike_log.append((kk, ch, ids))
            if z_every and kk % z_every == 0:
                z_list.append(z.clone())
            if tr_idx.numel():
                traces["v"].append(state.v[:, tr_idx].clone())
                traces["g_exc"].append(state.g_exc[:, tr_idx].clone())
                traces["g_inh"].append(state.g_inh[:, tr_idx].clone())
            if joint is not None:
                joint.index_add_(0, chain_offset + (z.long() * bits).sum(1),
                                 torch.ones(chains, dtype=torch.int64, device=dev))
            if slots.recorders:
                view = StepView(kk, t_ms, state, spikes, z, *_one_or_list(pstate, pw, slots))
                for recorder in slots.recorders:
                    recorder(view)
        if bar is not None and k % 1000 == 0:
            bar[0].update(bar[1], completed=k)
    if bar is not None:
        bar[0].update(bar[1], completed=burn + steps)
        bar[0].stop()
    for j, rule in enumerate(rules):
        pstate[j], pw[j] = rule.finish(pstate[j], pw[j], (burn + steps) * dt_ms)
    pstate_out, pw_out = _one_or_list(pstate, pw, slots)

    result = SimulationResult(
        dt_ms=dt_ms, duration_ms=steps * dt_ms, chains=chains, spike_counts=spike_counts.cpu(),
        on_fraction=(on_steps.double() / steps).cpu(), wall_s=time.perf_counter() - t0,
        plasticity_state=pstate_out, plastic_weights_uS=pw_out,
        input_spike_counts=None if in_counts is None else in_counts.cpu(),
        final_state=SimulationState(state.v, state.g_exc, state.g_inh, state.refrac_left,
                                    stp.resources, stp.utilisation, efficacy,
                                    step0 + burn + steps, dt_ms))
    if rec.spikes:
        if spike_log:
            result.spikes = (
                torch.cat([torch.full_like(ch, s) for s, ch, _ in spike_log]).cpu(),
                torch.cat([ch for _, ch, _ in spike_log]).cpu(),
                torch.cat([i for _, _, i in spike_log]).cpu())
        else:
            empty = torch.zeros(0, dtype=torch.long)
            result.spikes = (empty, empty.clone(), empty.clone())
    if z_list:
        result.z_samples = torch.stack(z_list).cpu()
    if tr_idx.numel():
        result.traces = {k: torch.stack(v).cpu() for k, v in traces.items()}
    if joint is not None:
        result.joint_counts = joint.view(chains, 2**n).cpu()
    return result


def _run_kernel(net: Network, duration_ms: float, chains: int, dt_ms: float, burn_in_ms: float,
                seed: int, dtype: torch.dtype, rec: Record, v0_mV: float | None, progress: bool,
                memory_limit_bytes: int,
                e_leak_schedule: Callable[[float], torch.Tensor] | None,
                slots: _Slots, start: SimulationState | None = None) -> SimulationResult:
    """The compiled CPU kernel (:mod:`.cpu_kernel`; with input, drive or plasticity
    components :mod:`.kernel_slots`)."""
    from .cpu_kernel import run_kernel
    from .kernel_slots import SlotPlan

    n, steps, burn = net.n, round(duration_ms / dt_ms), round(burn_in_ms / dt_ms)
    plan = (SlotPlan(slots, chains, n, dt_ms, seed, dtype)
            if slots.input is not None or slots.drive or slots.plasticity else None)
    _check_recording(net, chains, steps, dt_ms, rec, memory_limit_bytes)
    t0 = time.perf_counter()
    bar = _progress(progress, burn + steps)
    try:
        out = run_kernel(net, steps, burn, chains, dt_ms, seed, dtype, rec, v0_mV, bar,
                         e_leak_schedule, plan, start=start)
    finally:
        if bar is not None:
            bar[0].stop()
    result = SimulationResult(
        dt_ms=dt_ms, duration_ms=steps * dt_ms, chains=chains,
        spike_counts=torch.from_numpy(out["spike_counts"]),
        on_fraction=torch.from_numpy(out["on_steps"] / steps),
        wall_s=time.perf_counter() - t0, final_state=out["final_state"])
    if "input_spike_counts" in out:
        result.input_spike_counts = torch.from_numpy(out["input_spike_counts"])
    if "plasticity" in out:
        result.plasticity_state, result.plastic_weights_uS = _one_or_list(*out["plasticity"],
                                                                          slots)
    if "spikes" in out:
        result.spikes = tuple(torch.from_numpy(x) for x in out["spikes"])
    if "z_samples" in out:
        result.z_samples = torch.from_numpy(out["z_samples"])
    if "joint_counts" in out:
        result.joint_counts = torch.from_numpy(out["joint_counts"]).view(chains, 2**n)
    return result


def _check_recording(net: Network, chains: int, steps: int, dt_ms: float, rec: Record,
                     memory_limit_bytes: int) -> None:
    n = net.n
    if rec.joint_states and n > MAX_JOINT_UNITS:
        raise ValueError(f"joint_states needs N <= {MAX_JOINT_UNITS} neurons, got {n}")
    need = _estimate_bytes(net, chains, steps, dt_ms, rec)
    if need > memory_limit_bytes:
        raise MemoryError(
            f"recording would need about {need / 1024**3:.1f} GiB (limit "
            f"{memory_limit_bytes / 1024**3:.1f} GiB): use fewer chains, a shorter run, a larger "
            "z_every_ms, or fewer traced neurons")


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    p = Progress("[progress.description]{task.description}", BarColumn(),
                 "{task.percentage:>3.0f}%", TimeRemainingColumn(), transient=True)
    p.start()
    return p, p.add_task("simulating", total=total)
