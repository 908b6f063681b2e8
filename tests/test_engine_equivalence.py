"""The one schedule, run by every backend: backend x dtype x chains x synapse kind x plasticity
x leak schedule.

Deterministic networks (no Poisson noise: constant suprathreshold leaks) must give identical
spikes in float64 on the kernel and the torch path, and the torch path with a plastic
projection must give the spikes and weights of an independent reference loop written here from
the step functions (lif_step, stp_step, the rule's step) in the documented slot order. float32
and Poisson background: statistical agreement with tolerances from the sample size.
"""

from __future__ import annotations

import math

import pytest
import torch
from _synapse_cases import SILENT, SYNAPSES

from lifsampling.engine import (
    Network,
    PoissonDrive,
    PoissonInput,
    Record,
    initial_state,
    initial_stp_state,
    lif_step,
    make_constants,
    make_stp_constants,
    simulate,
    stp_step,
)
from lifsampling.engine.cpu_kernel import unsupported_reason
from lifsampling.params import MNIST_NEURON, NoiseParams, SynapseParams
from lifsampling.plasticity import BiCaLL, BiCaLLParams, PlasticProjection

F64 = torch.float64
DURATION_MS, DT = 100.0, 0.1


def _tonic_net(syn: SynapseParams, chains: int, dtype: torch.dtype) -> Network:
    """Six neurons (tau_m 20 ms, so that spike times respond to the synapses) driven above
    threshold by their leak, coupled both ways; with several chains each chain has its own
    leaks, so the chains differ."""
    g = torch.Generator().manual_seed(3)
    w = 0.004 * (torch.rand(6, 6, generator=g, dtype=F64) - 0.5)
    w.fill_diagonal_(0.0)
    leak = torch.linspace(-53.0, -47.0, 6, dtype=F64)
    if chains > 1:
        leak = leak + 0.5 * torch.arange(chains, dtype=F64).unsqueeze(1)
    return Network(weights_uS=w.to(dtype), e_leak_mV=leak.to(dtype), neuron=MNIST_NEURON,
                   noise=SILENT, synapse=syn)


def _schedule(net: Network):
    """Leak drops by 4 mV (silencing most neurons) in 40-60 ms, then rises by 0.3 mV."""
    base = net.e_leak_mV
    quiet, high = base - 4.0, base + 0.3

    def schedule(t_ms: float) -> torch.Tensor:
        if t_ms < 40.0:
            return base
        return quiet if t_ms < 60.0 else high
    return schedule


def _rule(chains: int) -> PlasticProjection:
    """Recurrent BiCaLL synapses, one matrix per chain, hidden weights near theta_b so that
    binary weights flip within the run and change the spikes."""
    g = torch.Generator().manual_seed(5)
    w0 = 0.4 + 0.2 * torch.rand(chains, 6, 6, generator=g, dtype=F64)
    return PlasticProjection(BiCaLL(BiCaLLParams(tau_bistable_ms=2_000.0)), w0, 0.002,
                             pre="network", mask=1.0 - torch.eye(6, dtype=F64))


def _reference(net: Network, chains: int, dtype: torch.dtype, rule: PlasticProjection | None,
               schedule) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The documented schedule written out: drive (previous step's jumps) -> lif_step -> STP ->
    propagation (dense products) -> plasticity. Returns a (steps, B, N) spike raster."""
    n, steps = net.n, round(DURATION_MS / DT)
    c = make_constants(net.neuron, net.e_leak_mV.to(dtype), DT)
    st = initial_state(chains, n, c, dtype=dtype)
    sc = make_stp_constants(net.synapse, net.neuron, DT)
    stp = initial_stp_state(chains, n, sc, torch.device("cpu"), dtype)
    w = net.weights_uS.to(dtype)
    w_e, w_i = w.clamp(min=0), (-w).clamp(min=0)
    gen = torch.Generator().manual_seed(0)
    if rule is not None:
        ps, pw = rule.init(chains, n, n, device=torch.device("cpu"), dtype=dtype, dt_ms=DT)
    pend_e = pend_i = None
    raster = torch.zeros(steps, chains, n, dtype=torch.bool)
    for k in range(steps):
        if schedule is not None:
            c = c._replace(e_leak=schedule(k * DT).to(dtype))
        st, spk, _ = lif_step(st, c, pend_e, pend_i)
        stp, eff = stp_step(stp, sc, spk)
        pend_e, pend_i = eff @ w_e, eff @ w_i
        if rule is not None:
            pend_e = pend_e + torch.bmm(eff.unsqueeze(1), pw).squeeze(1)
            ps, pw = rule.step(ps, spk, spk, pw, DT, gen)
        raster[k] = spk
    return raster, (pw if rule is not None else None)


def _raster(res, chains: int, n: int, steps: int = round(DURATION_MS / DT)) -> torch.Tensor:
    out = torch.zeros(steps, chains, n, dtype=torch.bool)
    out[res.spikes] = True
    return out


CASES = [(dt, ch, syn, plastic, sched)
         for dt in ("float64", "float32") for ch in (1, 3) for syn in SYNAPSES
         for plastic in (False, True) for sched in (False, True)]


@pytest.mark.parametrize("dtype_name,chains,syn,plastic,sched", CASES,
                         ids=[f"{a}-B{b}-{c}-{'plastic' if d else 'static'}-"
                              f"{'schedule' if e else 'const'}" for a, b, c, d, e in CASES])
def test_deterministic_matrix(dtype_name, chains, syn, plastic, sched):
    dtype = getattr(torch, dtype_name)
    net = _tonic_net(SYNAPSES[syn], chains, dtype)
    schedule = _schedule(net) if sched else None
    rule = _rule(chains) if plastic else None
    rec = Record(spikes=True)
    kw = dict(chains=chains, dt_ms=DT, dtype=dtype, record=rec, e_leak_schedule=schedule,
              device="cpu")
    torch_res = simulate(net, DURATION_MS, backend="torch", plasticity=rule, **kw)
    spikes_torch = _raster(torch_res, chains, net.n)
    ref, ref_w = _reference(net, chains, dtype, rule, schedule)
    n_spikes = int(ref.sum())
    assert n_spikes > 15 * chains  # the network is active ...
    if plastic:  # ... and the rule learns
        w_hidden = torch_res.plasticity_state.synapses.w
        assert float((w_hidden - rule.w0.to(dtype)).abs().max()) > 0.05
    if plastic and dtype == F64 and chains == 1:  # its flips change the spikes
        static = simulate(net, DURATION_MS, backend="torch", **kw)
        assert not torch.equal(_raster(static, chains, net.n), spikes_torch)
    if dtype == F64:
        assert torch.equal(spikes_torch, ref)
        if plastic:
            assert torch.equal(torch_res.plastic_weights_uS, ref_w)
    else:  # float32 rounding may move a spike by a step: per-neuron counts within 2 spikes
        assert (spikes_torch.sum(0).long() - ref.sum(0).long()).abs().max() <= 2
    kern_res = simulate(net, DURATION_MS, backend="kernel", plasticity=rule, **kw)
    kern = _raster(kern_res, chains, net.n)
    if dtype == F64:
        assert torch.equal(kern, spikes_torch)
        if plastic:  # the kernel's plasticity slot learns the same weights
            assert torch.equal(kern_res.plastic_weights_uS, torch_res.plastic_weights_uS)
            assert torch.equal(kern_res.plasticity_state.synapses.w,
                               torch_res.plasticity_state.synapses.w)
    else:
        assert (kern.sum(0).long() - spikes_torch.sum(0).long()).abs().max() <= 2
        if plastic:  # a spike moved by a step moves a hidden weight by at most one
            # pairing's update (c_p x_pre <= 0.1); the binary weights agree almost everywhere
            dw = kern_res.plasticity_state.synapses.w - torch_res.plasticity_state.synapses.w
            assert float(dw.abs().max()) <= 0.1
            same = kern_res.plastic_weights_uS == torch_res.plastic_weights_uS
            assert float(same.double().mean()) >= 0.95


@pytest.mark.parametrize("syn,dtype", [("renewing", torch.float32), ("additive", F64),
                                       ("tsodyks_markram", torch.float32)],
                         ids=["renewing-float32", "additive-float64", "tsodyks_markram-float32"])
def test_poisson_background_statistics_kernel_vs_torch(syn, dtype):
    """Under Poisson background, p(z=1) of every neuron (a weakly coupled 5-neuron network
    across the activation function, leak shifted by a schedule in the second half) agrees
    between the backends within 5 standard errors: 8 chains x 1 s hold ~400 independent
    samples (z decorrelates within ~tau_ref + tau_syn ~ 20 ms) per neuron and backend."""
    g = torch.Generator().manual_seed(1)
    w = 0.002 * (torch.rand(5, 5, generator=g, dtype=F64) - 0.5)
    w.fill_diagonal_(0.0)
    net = Network(weights_uS=w.to(dtype), e_leak_mV=torch.linspace(-53.0, -49.0, 5).to(dtype),
                  noise=NoiseParams(rate_exc_hz=3000.0, rate_inh_hz=3000.0),
                  synapse=SYNAPSES[syn])
    base = net.e_leak_mV

    def schedule(t_ms: float) -> torch.Tensor:
        return base if t_ms < 500.0 else base + 0.5

    res = {be: simulate(net, 1000.0, chains=8, seed=7, dtype=dtype, e_leak_schedule=schedule,
                        backend=be, device="cpu") for be in ("torch", "kernel")}
    p_t, p_k = res["torch"].on_fraction.mean(0), res["kernel"].on_fraction.mean(0)
    assert float(p_t.min()) > 0.05 and float(p_t.max()) < 0.95  # across the sigmoid
    se = torch.sqrt(p_t * (1 - p_t) / 400 + p_k * (1 - p_k) / 400)
    assert bool(((p_t - p_k).abs() < 5 * se).all()), (p_t, p_k)


def _old_present_loop(images, teach, w_hidden, rule, cfg, gen, steps):
    """The calcium MNIST presentation as its own loop (before it ran on the engine): input
    Bernoulli trains, teacher Poisson counts, lif_step, BiCaLL decay + summed updates."""
    b, n_in = images.shape
    n_out = teach.shape[1]
    e_leak = torch.full((n_out,), MNIST_NEURON.e_leak_mV, dtype=F64)
    c = make_constants(MNIST_NEURON, e_leak, 1.0)
    st = initial_state(b, n_out, c, dtype=F64)
    p_in = images * cfg["rate"] * 1e-3
    zeros_post = torch.zeros(b, n_out, dtype=F64)
    ff = rule.init_state(1, n_in, n_out, w_hidden, dtype=F64)._replace(
        pre=torch.zeros(b, n_in, dtype=F64), post=zeros_post, stop=zeros_post.clone())
    p_teach = cfg["teacher"] * 1e-3
    counts = torch.zeros(b, n_out, dtype=torch.int64)
    for _ in range(steps):
        w_eff = rule.weight(ff)[0]
        s = (torch.rand(b, n_in, generator=gen, dtype=F64) < p_in).to(F64)
        g_e = cfg["g_in"] * (s @ w_eff)
        g_e = g_e + cfg["g_t"] * torch.poisson(p_teach * teach, generator=gen)
        g_i = cfg["g_inh"] * s.sum(1, keepdim=True).expand(b, n_out)
        g_i = g_i + cfg["g_a"] * torch.poisson(p_teach * (1 - teach), generator=gen)
        st, spk, _ = lif_step(st, c, g_e, g_i)
        counts += spk
        ff = rule.on_spikes(rule.decay(ff, 1.0), s.bool(), spk, shared=True)
    return counts, rule.drift(ff, steps * 1.0).w


def test_input_drive_and_shared_plasticity_match_the_old_calcium_loop():
    """PoissonInput + PoissonDrive + a shared BiCaLL input projection (the calcium MNIST
    presentation) gives, for the same random stream, the spike counts and hidden weights of the
    loop the experiment used to run itself (float64)."""
    gen = torch.Generator().manual_seed(2)
    b, n_in, n_out = 4, 50, 12
    images = (torch.rand(b, n_in, generator=gen, dtype=F64) < 0.4).to(F64)
    labels = torch.tensor([0, 1, 2, 1])
    teach = ((torch.arange(n_out) // 4).unsqueeze(0) == labels.unsqueeze(1)).to(F64)
    w_hidden = torch.where(torch.rand(1, n_in, n_out, generator=gen, dtype=F64) < 0.3,
                           0.85, 0.15).to(F64)
    rule = BiCaLL(BiCaLLParams(c_d1=-0.005, c_p=0.01, c_d2=-0.0002, tau_stop_ms=20.0,
                               a_stop=0.2, theta_stop_high=0.5))
    cfg = {"rate": 60.0, "teacher": 1500.0, "g_in": 0.0008, "g_t": 0.002, "g_inh": 0.0006,
           "g_a": 0.0008}
    steps = 100
    old_counts, old_w = _old_present_loop(images, teach, w_hidden, rule, cfg,
                                          torch.Generator().manual_seed(11), steps)
    net = Network(weights_uS=torch.zeros(n_out, n_out, dtype=F64),
                  e_leak_mV=torch.full((n_out,), MNIST_NEURON.e_leak_mV, dtype=F64),
                  neuron=MNIST_NEURON, noise=SILENT, synapse=SynapseParams(kind="additive"))
    res = simulate(net, float(steps), chains=b, dt_ms=1.0, seed=11, dtype=F64, device="cpu",
                   backend="torch", input=PoissonInput(images * cfg["rate"],
                                      torch.full((n_in, n_out), -cfg["g_inh"], dtype=F64)),
                   drive=[PoissonDrive(cfg["teacher"] * teach, cfg["g_t"],
                                       cfg["teacher"] * (1 - teach), cfg["g_a"])],
                   plasticity=PlasticProjection(rule, w_hidden, cfg["g_in"], pre="input",
                                                shared=True, slow="end"))
    assert int(old_counts.sum()) > 50
    assert torch.equal(res.spike_counts, old_counts)
    w_new = res.plasticity_state.synapses.w
    assert float((w_new - w_hidden).abs().max()) > 0.01  # it learned something
    assert torch.allclose(w_new, old_w, rtol=0, atol=1e-12)


def _calcium_like(dtype: torch.dtype, fixed: str, learn: bool = True):
    """A calcium-MNIST-shaped run without randomness: 3 chains, 30 inputs that fire in every
    step (rate 1/dt) or never, a fixed input projection (uniform coding-level inhibition, or
    signed per-synapse weights), a shared BiCaLL input projection (slow drift at the end; some
    hidden weights start outside [0, 1]), a shared recurrent BiCaLL projection without autapses
    (drift every step), global recurrent inhibition, and a PoissonDrive of rate 0."""
    g = torch.Generator().manual_seed(4)
    b, n_in, n = 3, 30, 8
    rates = (torch.rand(b, n_in, generator=g, dtype=F64) < 0.4).to(F64) * 1000.0
    if fixed == "uniform":
        w_fixed_in = torch.full((n_in, n), -0.0002, dtype=F64)
    else:
        w_fixed_in = 0.0004 * (torch.rand(n_in, n, generator=g, dtype=F64) - 0.6)
    w0 = 0.45 + 0.1 * torch.rand(1, n_in, n, generator=g, dtype=F64)
    w0[0, :3, :2] = torch.tensor([1.3, -0.2], dtype=F64)  # clipped at the first update
    rule = BiCaLL(BiCaLLParams(c_d1=-0.01, c_p=0.05, c_d2=-0.002, tau_stop_ms=20.0,
                               a_stop=0.2, theta_stop_high=0.7, tau_bistable_ms=500.0))
    rules = [PlasticProjection(rule, w0, 0.0006, pre="input", shared=True, slow="end",
                               learn=learn),
             PlasticProjection(rule, 0.48 + 0.04 * torch.rand(1, n, n, generator=g, dtype=F64),
                               0.001, pre="network", shared=True, learn=learn,
                               mask=1.0 - torch.eye(n, dtype=F64))]
    leak = torch.linspace(-62.0, -54.0, n, dtype=F64) + torch.tensor([[0.0], [1.0], [-2.0]],
                                                                      dtype=F64)
    net = Network(weights_uS=torch.full((n, n), -0.0003, dtype=F64).to(dtype),
                  e_leak_mV=leak.to(dtype), neuron=MNIST_NEURON, noise=SILENT,
                  synapse=SynapseParams(kind="additive"))
    kw = dict(chains=b, dt_ms=1.0, dtype=dtype, device="cpu", record=Record(spikes=True),
              input=PoissonInput(rates, w_fixed_in),
              drive=[PoissonDrive(torch.zeros(n), 0.002, torch.zeros(b, n), 0.001)],
              plasticity=rules)
    return net, kw, w0


@pytest.mark.parametrize("dtype_name,fixed", [("float64", "uniform"), ("float64", "signed"),
                                              ("float32", "uniform")])
def test_kernel_runs_the_calcium_slots_as_the_torch_path(dtype_name, fixed):
    """Input population, drive and shared plastic projections (input and recurrent) on the
    kernel, deterministic inputs: in float64 identical spikes, binary weights and hidden
    weights up to the order of the sum over chains (1e-12); in float32 spike counts within 2
    per neuron and hidden weights within one pairing's update."""
    dtype = getattr(torch, dtype_name)
    net, kw, w0 = _calcium_like(dtype, fixed)
    duration = 150.0
    res = {be: simulate(net, duration, backend=be, **kw) for be in ("torch", "kernel")}
    t, k = res["torch"], res["kernel"]
    steps, chains, n = round(duration), kw["chains"], net.n
    assert int(t.spike_counts.sum()) > 100  # active ...
    w_t = t.plasticity_state[0].synapses.w
    assert float((w_t - w0.to(dtype))[:, 3:].abs().max()) > 0.1  # ... and learning
    assert bool((w_t >= 0).all() and (w_t <= 1).all())  # the out-of-range w0 were clipped
    w_rec_t = t.plasticity_state[1].synapses.w
    if dtype == F64:
        assert torch.equal(_raster(k, chains, n, steps), _raster(t, chains, n, steps))
        for j in range(2):
            assert torch.equal(k.plastic_weights_uS[j], t.plastic_weights_uS[j])
            for a, b in zip(k.plasticity_state[j].synapses, t.plasticity_state[j].synapses,
                            strict=True):
                assert torch.allclose(a, b, rtol=0, atol=1e-12)
        assert float((w_rec_t - k.plasticity_state[1].synapses.w).abs().max()) <= 1e-12
        frozen = {be: simulate(net, duration, backend=be,
                               **{**kw, "plasticity": _calcium_like(dtype, fixed, False)[1][
                                   "plasticity"]}) for be in ("torch", "kernel")}
        assert torch.equal(frozen["kernel"].spike_counts, frozen["torch"].spike_counts)
        assert not torch.equal(frozen["torch"].spike_counts, t.spike_counts)  # learning acts
        assert torch.equal(frozen["kernel"].plasticity_state[0].synapses.w, w0)
    else:
        assert (k.spike_counts - t.spike_counts).abs().max() <= 2
        dw = k.plasticity_state[0].synapses.w - w_t
        assert float(dw.abs().max()) <= 0.05  # c_p x_pre <= 0.05


def test_kernel_calcium_presentation_statistics_match_the_torch_path():
    """Poisson input, teacher drive and shared BiCaLL learning (the calcium MNIST
    presentation, 16 images x 100 ms, 8 seeds per backend): the mean output rate of the
    teacher-driven and of the anti-teacher pools and the mean hidden-weight change agree
    within 5 standard errors of the difference (standard errors from the seed-to-seed spread),
    and the weight change is more than 5 standard errors away from 0."""
    gen = torch.Generator().manual_seed(6)
    b, n_in, n_out, pool = 16, 200, 20, 4
    images = torch.rand(b, n_in, generator=gen) * (torch.rand(b, n_in, generator=gen) < 0.5)
    labels = torch.arange(b) % (n_out // pool)
    teach = ((torch.arange(n_out) // pool).unsqueeze(0) == labels.unsqueeze(1)).float()
    w0 = torch.where(torch.rand(1, n_in, n_out, generator=gen) < 0.2, 0.85, 0.15)
    rule = BiCaLL(BiCaLLParams(c_d1=-0.005, c_p=0.01, c_d2=-0.0002, tau_stop_ms=20.0,
                               a_stop=0.2, theta_stop_high=0.5))
    net = Network(weights_uS=torch.zeros(n_out, n_out),
                  e_leak_mV=torch.full((n_out,), MNIST_NEURON.e_leak_mV),
                  neuron=MNIST_NEURON, noise=SILENT, synapse=SynapseParams(kind="additive"))
    stats = {"torch": [], "kernel": []}
    for be, seed in ((be, seed) for be in stats for seed in range(8)):
        res = simulate(net, 100.0, chains=b, dt_ms=1.0, seed=seed, device="cpu", backend=be,
                       input=PoissonInput(images * 60.0, torch.full((n_in, n_out), -0.0003)),
                       drive=[PoissonDrive(1500.0 * teach, 0.002, 1500.0 * (1 - teach),
                                           0.0004)],
                       plasticity=PlasticProjection(rule, w0, 0.002, pre="input",
                                                    shared=True, slow="end"))
        counts = res.spike_counts.double()
        stats[be].append([float((counts * teach).sum() / teach.sum()),
                          float((counts * (1 - teach)).sum() / (1 - teach).sum()),
                          float((res.plasticity_state.synapses.w - w0).mean())])
    t, k = torch.tensor(stats["torch"]), torch.tensor(stats["kernel"])
    se = torch.sqrt(t.var(0) / len(t) + k.var(0) / len(k))
    assert bool(((t.mean(0) - k.mean(0)).abs() < 5 * se).all()), (t.mean(0), k.mean(0), se)
    assert float(t[:, 1].mean()) > 0.5  # the anti-teacher pools fire (> 5 Hz) ...
    assert float(t[:, 0].mean()) > 3 * float(t[:, 1].mean())  # ... the teacher's much more
    assert abs(float(k[:, 2].mean())) > 5 * float(se[2])  # the weights move


def test_kernel_slots_reproducible_for_a_seed_whatever_the_threads():
    """Poisson input, teacher drive and a shared BiCaLL projection on the kernel: the same seed
    gives the same spikes and hidden weights on 1 thread and on all of numba's threads (the sum
    over chains runs in chain order), another seed other spikes."""
    import numba

    gen = torch.Generator().manual_seed(8)
    b, n_in, n = 6, 120, 12
    images = torch.rand(b, n_in, generator=gen) * (torch.rand(b, n_in, generator=gen) < 0.5)
    teach = ((torch.arange(n) // 4).unsqueeze(0) == (torch.arange(b) % 3).unsqueeze(1)).float()
    w0 = torch.where(torch.rand(1, n_in, n, generator=gen) < 0.3, 0.85, 0.15)
    net = Network(weights_uS=torch.zeros(n, n), e_leak_mV=torch.full((n,), -70.0),
                  neuron=MNIST_NEURON, noise=SILENT, synapse=SynapseParams(kind="additive"))

    def run(seed: int):
        return simulate(net, 100.0, chains=b, dt_ms=1.0, seed=seed, device="cpu",
                        backend="kernel", record=Record(spikes=True),
                        input=PoissonInput(images * 60.0, torch.full((n_in, n), -0.0003)),
                        drive=[PoissonDrive(1500.0 * teach, 0.002, 1500.0 * (1 - teach),
                                            0.0004)],
                        plasticity=PlasticProjection(BiCaLL(BiCaLLParams(c_p=0.02)), w0,
                                                     0.002, pre="input", shared=True))

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(3)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = run(3)
    finally:
        numba.set_num_threads(before)
    assert int(one.spike_counts.sum()) > 50
    assert all(torch.equal(x, y) for x, y in zip(one.spikes, many.spikes, strict=True))
    assert torch.equal(one.plasticity_state.synapses.w, many.plasticity_state.synapses.w)
    assert float((one.plasticity_state.synapses.w - w0).abs().max()) > 0.01
    assert not torch.equal(run(4).spike_counts, one.spike_counts)


def test_kernel_states_why_it_cannot_run_a_configuration():
    """Each configuration the kernel does not run is refused with its reason in one line
    (``backend="kernel"``), and ``"auto"`` runs it on the torch path."""
    from lifsampling.plasticity import GraupnerBrunel

    net = _tonic_net(SYNAPSES["additive"], 1, F64)
    kw = dict(dt_ms=DT, dtype=F64, device="cpu")
    bicall = PlasticProjection(BiCaLL(), 0.5, 0.001)
    refused = [
        (dict(plasticity=PlasticProjection(GraupnerBrunel(), 0.5, 0.001)), "Graupner"),
        (dict(plasticity=[bicall, bicall]), "at most one plastic projection"),
        (dict(recorders=[lambda view: None]), "recorder callables"),
        (dict(record=Record(trace_neurons=(0,))), "membrane traces"),
        (dict(drive=[PoissonDrive(torch.arange(6000.0).reshape(1000, 6), 0.001)],
              chains=1000), "distinct rates"),
    ]
    for extra, reason in refused:
        with pytest.raises(ValueError, match=reason) as err:
            simulate(net, 1.0, backend="kernel", **{**kw, **extra})
        assert "\n" not in str(err.value)
        res = simulate(net, 1.0, backend="auto", **{**kw, **extra})
        assert res.duration_ms == pytest.approx(1.0)

    class Custom:
        pre, shared = "network", False

        def init(self, chains, n_pre, n_post, *, device, dtype, dt_ms):
            return None, torch.zeros(chains, n_pre, n_post, dtype=dtype)

        def step(self, state, pre, post, weights, dt_ms, generator):
            return state, weights

        def finish(self, state, weights, elapsed_ms):
            return state, weights

    with pytest.raises(ValueError, match="component Custom runs on the torch path"):
        simulate(net, 1.0, backend="kernel", plasticity=Custom(), **kw)


def test_backend_option():
    """One ``backend`` option: unknown names and unsupported combinations are refused."""
    net = _tonic_net(SYNAPSES["renewing"], 1, torch.float32)
    with pytest.raises(ValueError, match="unknown backend 'numba'"):
        simulate(net, 1.0, backend="numba")
    with pytest.raises(TypeError):
        simulate(net, 1.0, compile=True)  # the old switch is gone
    assert unsupported_reason(net, Record(), None, torch.device("cpu")) is None
    with pytest.raises(ValueError, match="time-varying background"):
        from lifsampling.params import SinusoidalRate

        noisy = Network(net.weights_uS, net.e_leak_mV, noise=NoiseParams(
            rate_exc_hz=SinusoidalRate(1000.0, 500.0, 10.0), rate_inh_hz=1000.0))
        simulate(noisy, 1.0, backend="torch-compiled")
    with pytest.raises(ValueError, match="plasticity components need"):
        simulate(net, 1.0, plasticity=BiCaLL())  # a rule, not a slot component
    with pytest.raises(ValueError, match="needs simulate"):
        simulate(net, 1.0, plasticity=PlasticProjection(BiCaLL(), 0.5, 0.001, pre="input"))
    assert math.isfinite(float(simulate(net, 5.0, backend="auto").spike_counts.sum()))


def _gb_reference(net: Network, rule, mask: torch.Tensor, delay_steps: int):
    """Graupner–Brunel on the tonic network, written out: the rule is fed the spike raster
    shifted by ``delay_steps``; additive synapses (efficacy 0.7), plastic weight 0.0005 x rho's
    efficacy (1 or b)."""
    c = make_constants(net.neuron, net.e_leak_mV, DT)
    st = initial_state(2, 6, c, dtype=F64)
    w_e, w_i = net.weights_uS.clamp(min=0), (-net.weights_uS).clamp(min=0)
    s = rule.init_state(2, 6, 6, 0.45, dtype=F64)
    pend_e = pend_i = None
    raster = []
    for k in range(round(DURATION_MS / DT)):
        st, spk, _ = lif_step(st, c, pend_e, pend_i)
        x = 0.7 * spk.to(F64)
        w_plastic = 0.0005 * rule.weight(s) * mask
        pend_e = x @ w_e + torch.bmm(x.unsqueeze(1), w_plastic).squeeze(1)
        pend_i = x @ w_i
        pre = raster[k - delay_steps] if k >= delay_steps else torch.zeros_like(spk)
        s = rule.step(s, pre, spk, DT)
        raster.append(spk)
    return torch.stack(raster), s.w


def test_graupner_brunel_projection_delays_presynaptic_calcium():
    """Graupner–Brunel in the plasticity slot: presynaptic calcium arrives D = 2 ms (20 steps)
    after the spike. Against a loop that feeds the rule the spike raster shifted by 20 steps:
    identical spikes and efficacies rho (float64, noise off); a shift by 19 steps gives other
    efficacies (the comparison sees the delay)."""
    from lifsampling.plasticity import GraupnerBrunel, GraupnerBrunelParams

    rule = GraupnerBrunel(GraupnerBrunelParams(noise=False, delay_ms=2.0, tau_ms=5_000.0,
                                               c_post=0.5))
    mask = 1.0 - torch.eye(6, dtype=F64)
    net = _tonic_net(SYNAPSES["additive"], 2, F64)
    res = simulate(net, DURATION_MS, chains=2, dt_ms=DT, dtype=F64, device="cpu",
                   record=Record(spikes=True), backend="torch",
                   plasticity=PlasticProjection(rule, 0.45, 0.0005, pre="network", mask=mask))
    ref, rho_ref = _gb_reference(net, rule, mask, 20)
    assert int(ref.sum()) > 30
    assert torch.equal(_raster(res, 2, 6), ref)
    rho = res.plasticity_state.synapses.w
    assert float((rho - 0.45).abs().max()) > 0.01
    assert torch.allclose(rho, rho_ref, rtol=0, atol=1e-12)
    _, rho_early = _gb_reference(net, rule, mask, 19)
    assert float((rho_early - rho).abs().max()) > 1e-6
