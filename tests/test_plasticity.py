"""BiCaLL and Graupner–Brunel rules: traces, signs, bistability, stop-learning, a small task."""

from __future__ import annotations

import math

import pytest
import torch

from lifsampling.plasticity import (
    BiCaLL,
    BiCaLLParams,
    GraupnerBrunel,
    GraupnerBrunelParams,
    make_rule,
    rate_protocol,
    run_spike_trains,
    stdp_protocol,
    trace_closed_form,
)


def test_trace_matches_closed_form_event_and_clocked():
    p = BiCaLLParams(stop_learning=False)
    rule = BiCaLL(p)
    spikes = torch.tensor([3.0, 10.0, 12.5, 40.0, 41.0, 90.0])
    # event-driven
    s = rule.init_state(1, 1, 1, dtype=torch.float64)
    s = run_spike_trains(rule, s, spikes.reshape(1, -1).double(),
                         torch.full((1, 1), math.inf, dtype=torch.float64), 120.0)
    expect = trace_closed_form(spikes, 120.0, p.tau_pre_ms, p.a_pre)
    assert s.pre.item() == pytest.approx(expect, rel=1e-9)
    # clocked, dt = 0.5 ms (spike times on the grid)
    s = rule.init_state(1, 1, 1, dtype=torch.float64)
    dt = 0.5
    for k in range(1, 241):
        t = k * dt
        pre = torch.tensor([[bool((spikes == t).any())]])
        s = rule.step(s, pre, None, dt)
    assert s.pre.item() == pytest.approx(expect, rel=1e-9)
    # regular train: steady state after a spike a / (1 - (1 - a) exp(-T / tau))
    reg = torch.arange(0.0, 2000.0, 25.0)
    x_ss = trace_closed_form(reg, 1975.0, p.tau_pre_ms, p.a_pre)
    assert x_ss == pytest.approx(p.a_pre / (1 - (1 - p.a_pre) * math.exp(-25.0 / p.tau_pre_ms)),
                                 rel=1e-9)
    assert 0.0 <= x_ss <= 1.0


def test_unbounded_switch_gives_additive_jumps():
    rule = BiCaLL(BiCaLLParams(bounded_traces=False, stop_learning=False))
    s = rule.init_state(1, 1, 1)
    s = rule.on_spikes(s, torch.tensor([[True]]), None)
    s = rule.on_spikes(s, torch.tensor([[True]]), None)
    assert s.pre.item() == pytest.approx(0.8)  # 0.4 + 0.4, not 0.4 + 0.4 * 0.6


@pytest.mark.parametrize("rule_name", ["bicall", "graupner-brunel"])
def test_sign_of_canonical_pairings(rule_name):
    rule = make_rule(rule_name)
    res = stdp_protocol(rule, [-10.0, 10.0], reps=200, device="cpu", seed=1)
    dep, pot = res["dw_effective"]
    assert pot > 0.1  # pre-before-post (+10 ms): potentiation
    assert dep < -0.05  # post-before-pre (-10 ms): depression
    assert res["dw_hidden_mean"][1] > 0 > res["dw_hidden_mean"][0]


def test_single_pairing_updates_match_equations():
    p = BiCaLLParams(stop_learning=False, bistable=False)
    rule = BiCaLL(p)
    s = rule.init_state(1, 1, 1, 0.5, dtype=torch.float64)
    inf = torch.full((1, 1), math.inf, dtype=torch.float64)
    s1 = run_spike_trains(rule, s, torch.tensor([[0.0]], dtype=torch.float64),
                          torch.tensor([[5.0]], dtype=torch.float64), 6.0)
    x_pre = p.a_pre * math.exp(-5.0 / p.tau_pre_ms)  # 0.311 > theta_pre: no c_d2
    assert s1.w.item() == pytest.approx(0.5 + p.c_p * x_pre, rel=1e-9)
    s2 = run_spike_trains(rule, s, torch.tensor([[5.0]], dtype=torch.float64),
                          torch.tensor([[0.0]], dtype=torch.float64), 6.0)
    assert s2.w.item() == pytest.approx(0.5 + p.c_d1, rel=1e-9)  # x_post 0.43 > theta_post
    # a lone post spike long after a pre spike: x_pre in (0, theta_pre) -> c_d2
    s3 = run_spike_trains(rule, s, torch.tensor([[0.0]], dtype=torch.float64),
                          torch.tensor([[200.0]], dtype=torch.float64), 201.0)
    x3 = p.a_pre * math.exp(-200.0 / p.tau_pre_ms)
    assert s3.w.item() == pytest.approx(0.5 + p.c_p * x3 + p.c_d2, rel=1e-9)
    # and without any pre activity nothing changes (x_pre = 0 gate)
    s4 = run_spike_trains(rule, s, inf, torch.tensor([[0.0]], dtype=torch.float64), 1.0)
    assert s4.w.item() == 0.5


def test_bistability_fixed_points():
    p = BiCaLLParams(tau_bistable_ms=1000.0)
    rule = BiCaLL(p)
    w0 = torch.tensor([0.0, 0.2, 0.5, 0.5001, 0.8, 1.0]).reshape(6, 1, 1)
    s = rule.init_state(6, 1, 1, w0)
    # 0.3 s: drift of 0.3, exact and never crossing theta
    s1 = rule.advance(s, 300.0)
    assert s1.w.flatten().tolist() == pytest.approx([0.0, 0.0, 0.2, 0.8001, 1.0, 1.0], abs=1e-6)
    s2 = rule.advance(s, 5000.0)
    assert s2.w.flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]  # the two fixed points
    assert rule.weight(s2).flatten().tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    # per-copy elapsed times
    s3 = rule.advance(s, torch.tensor([0.0, 100.0, 100.0, 100.0, 100.0, 0.0]))
    assert s3.w.flatten().tolist() == pytest.approx([0.0, 0.1, 0.4, 0.6001, 0.9, 1.0], abs=1e-6)
    off = BiCaLL(p.without("bistable"))
    assert off.advance(s, 5000.0).w.flatten().tolist() == pytest.approx(w0.flatten().tolist())
    # Graupner–Brunel without noise: rho* unstable, 0 and 1 stable
    gbq = GraupnerBrunel(GraupnerBrunelParams(noise=False))
    r = gbq.init_state(3, 1, 1, torch.tensor([0.45, 0.55, 0.5]).reshape(3, 1, 1))
    r = gbq.advance(r, 40 * gbq.p.tau_ms)
    assert r.w.flatten().tolist() == pytest.approx([0.0, 1.0, 0.5], abs=2e-2)


def test_stop_learning_gate():
    p = BiCaLLParams()
    rule = BiCaLL(p)
    s = rule.init_state(3, 1, 1, 0.6)
    s = s._replace(pre=torch.full((3, 1), 0.8),
                   stop=torch.tensor([[0.0], [0.3], [0.9]]))  # below, inside, above the window
    post = torch.ones(3, 1, dtype=torch.bool)
    out = rule.on_spikes(s, None, post)
    dw = (out.w - 0.6).flatten()
    # after the jump x_stop = 0.03, 0.321, 0.903: only the middle one learns
    assert dw[0].item() == 0.0 and dw[2].item() == 0.0
    assert dw[1].item() == pytest.approx(p.c_p * 0.8, rel=1e-6)
    assert out.stop.flatten().tolist() == pytest.approx([0.03, 0.321, 0.903], rel=1e-6)
    # the gate also blocks pre-triggered depression
    s = s._replace(post=torch.ones(3, 1))
    out = rule.on_spikes(s, torch.ones(3, 1, dtype=torch.bool), None)
    assert (out.w - 0.6).flatten().tolist() == pytest.approx([0.0, p.c_d1, 0.0], abs=1e-7)
    off = BiCaLL(p.without("stop_learning"))
    out = off.on_spikes(s, torch.ones(3, 1, dtype=torch.bool), None)
    assert (out.w - 0.6).flatten().tolist() == pytest.approx([p.c_d1] * 3, abs=1e-7)


def test_shared_update_is_sum_of_copies():
    rule = BiCaLL(BiCaLLParams(stop_learning=False, clip=False))
    g = torch.Generator().manual_seed(0)
    s = rule.init_state(4, 5, 3, 0.5)
    s = s._replace(pre=torch.rand(4, 5, generator=g), post=torch.rand(4, 3, generator=g))
    pre = torch.rand(4, 5, generator=g) < 0.5
    post = torch.rand(4, 3, generator=g) < 0.5
    own = rule.on_spikes(s, pre, post)
    shared = rule.on_spikes(s._replace(w=torch.full((1, 5, 3), 0.5)), pre, post, shared=True)
    assert torch.allclose(shared.w[0] - 0.5, (own.w - 0.5).sum(0), atol=1e-6)


def test_rate_protocol_rate_dependence():
    rule = make_rule("bicall")
    res = rate_protocol(rule, [5.0, 50.0], [5.0, 50.0], reps=200, device="cpu")
    dw = dict(zip(zip(res["pre_rate_hz"], res["post_rate_hz"], strict=True), res["dw_hidden_mean"],
                  strict=True))
    assert dw[(50.0, 50.0)] > 0.2  # high pre and post rates: potentiation
    assert dw[(5.0, 5.0)] < dw[(50.0, 50.0)]
    assert dw[(50.0, 5.0)] < dw[(50.0, 50.0)] - 0.2  # ... needs the post rate too


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="unknown rule"):
        make_rule("oja")
    with pytest.raises(ValueError, match=">= 0"):
        rate_protocol(make_rule("bicall"), [-1.0], [5.0])
    with pytest.raises(ValueError, match="sign convention"):
        BiCaLL(BiCaLLParams(c_d1=0.1))
    with pytest.raises(ValueError, match="unknown feature"):
        BiCaLLParams().without("magic")
