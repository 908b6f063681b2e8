"""The config dataclasses of evaluate, sample, calibrate, tempering, plasticity-protocol and
plasticity-figures: each accepts its defaults, is frozen, and refuses an out-of-range value with
a ValueError whose message starts with the field's name (or says what is unknown) and the allowed
range; tempering-study's calibration may be a shipped preset name."""

from __future__ import annotations

import dataclasses

import pytest

from lifsampling.experiments.calcium_protocols import FiguresConfig, ProtocolConfig
from lifsampling.experiments.calibrate_neuron import CalibrateConfig
from lifsampling.experiments.classical_rbm import EvaluateConfig, SampleConfig
from lifsampling.experiments.tempering_compare import TemperingConfig

TEMPERING = {"frequency_hz": 4.0, "amplitude_hz": 1500.0}

REFUSED = [
    (EvaluateConfig, {}, {"ais_runs": 0}, "ais_runs must be >= 1, got 0"),
    (EvaluateConfig, {}, {"ais_betas": 2}, "ais_betas must be >= 3, got 2"),
    (EvaluateConfig, {}, {"seed": -1}, "seed must be >= 0"),
    (EvaluateConfig, {}, {"data": ""}, "data must be builtin, mnist or a folder"),
    (SampleConfig, {}, {"sampler": "hmc"}, "sampler must be one of gibbs, ast, pt, got 'hmc'"),
    (SampleConfig, {}, {"n": 0}, "n must be >= 1, got 0"),
    (SampleConfig, {}, {"chains": 0}, "chains must be >= 1, got 0"),
    (SampleConfig, {}, {"burn_in": -1}, "burn_in must be >= 0, got -1"),
    (SampleConfig, {}, {"beta_min": 1.0}, "beta_min must be in [0, 1), got 1"),
    (SampleConfig, {}, {"beta_min": -0.1}, "beta_min must be >= 0"),
    (SampleConfig, {}, {"n_betas": 1}, "n_betas must be >= 2, got 1"),
    (SampleConfig, {}, {"init": "zeros"}, "init must be random or data, got 'zeros'"),
    (SampleConfig, {}, {"n": 2.5}, "n must be a whole number"),
    (CalibrateConfig, {}, {"preset": "nope"}, "preset must be one of sbs, leng2018"),
    (CalibrateConfig, {}, {"points": 4}, "points must be >= 5, got 4"),
    (CalibrateConfig, {}, {"duration_ms": 0.0}, "duration_ms must be > 0"),
    (CalibrateConfig, {}, {"duration_ms": float("inf")}, "duration_ms must be a finite"),
    (CalibrateConfig, {}, {"chains": 0}, "chains must be >= 1"),
    (CalibrateConfig, {}, {"rate_hz": -5.0}, "rate_hz must be >= 0"),
    (CalibrateConfig, {}, {"low_mV": -55.0}, "low_mV and high_mV: give both or neither"),
    (CalibrateConfig, {}, {"low_mV": -40.0, "high_mV": -50.0}, "empty leak-potential range"),
    (CalibrateConfig, {}, {"device": "tpu"}, "device must be auto, cpu, cuda or cuda:k"),
    (TemperingConfig, TEMPERING, {"frequency_hz": 0.0}, "frequency_hz must be > 0"),
    (TemperingConfig, TEMPERING, {"frequency_hz": 200.0}, "frequency_hz 200 has a period "
     "shorter than tau_ref"),
    (TemperingConfig, TEMPERING, {"amplitude_hz": -1.0}, "amplitude_hz must be > 0"),
    (TemperingConfig, TEMPERING, {"amplitude_hz": 5000.0, "mean_hz": 3000.0},
     "amplitude_hz 5000 leaves a trough rate of -2000 Hz"),
    (TemperingConfig, TEMPERING, {"duration_ms": 100.0}, "duration_ms 100 is shorter than one "
     "period (250 ms)"),
    (TemperingConfig, TEMPERING, {"chains": 0}, "chains must be >= 1"),
    (TemperingConfig, TEMPERING, {"read_T": 0.9}, "read_T must be >= 1"),
    (TemperingConfig, TEMPERING, {"device": "gpu"}, "device must be auto, cpu, cuda"),
    (ProtocolConfig, {"protocol": "stdp"}, {"protocol": "ltp"}, "unknown protocol 'ltp'"),
    (ProtocolConfig, {"protocol": "stdp"}, {"rule": "oja"}, "unknown rule 'oja'"),
    (ProtocolConfig, {"protocol": "stdp"}, {"gb_preset": "x"},
     "gb_preset must be one of DP, cortical, hippocampal"),
    (ProtocolConfig, {"protocol": "stdp"}, {"dts_ms": ()}, "dts_ms must be a non-empty list"),
    (ProtocolConfig, {"protocol": "frequency"}, {"freqs_hz": (0.0, 10.0)},
     "freqs_hz must be > 0 Hz"),
    (ProtocolConfig, {"protocol": "rate"}, {"rates_hz": (-5.0, 10.0)},
     "rates_hz must be >= 0 Hz"),
    (ProtocolConfig, {"protocol": "rate"}, {"duration_ms": -1.0},
     "duration_ms must be > 0, got -1.0"),
    (ProtocolConfig, {"protocol": "stdp"}, {"reps": 0}, "reps must be a whole number > 0"),
    (FiguresConfig, {}, {"reps": 0}, "reps must be a whole number > 0, got 0"),
    (FiguresConfig, {}, {"duration_ms": 0.0}, "duration_ms must be > 0"),
    (FiguresConfig, {}, {"device": "cuda:x"}, "device must be auto, cpu, cuda or cuda:k"),
]


@pytest.mark.parametrize("cls, base, change, message", REFUSED,
                         ids=[f"{c[0].__name__}-{next(iter(c[2]))}-{i}"
                              for i, c in enumerate(REFUSED)])
def test_config_refuses_out_of_range(cls, base, change, message):
    cls(**base)  # the defaults (with the required fields) are accepted
    with pytest.raises(ValueError) as exc:
        cls(**{**base, **change})
    assert message in str(exc.value)


def test_configs_are_frozen_and_resolve_their_defaults():
    t = TemperingConfig(**TEMPERING)
    assert t.mean_hz == 4500.0 and t.rhythm.trough_hz == 3000.0  # 3 kHz trough by default
    assert TemperingConfig(**TEMPERING, mean_hz=5000.0).rhythm.trough_hz == 3500.0
    c = CalibrateConfig(preset="sbs", rate_hz=2000.0, low_mV=-55.0, high_mV=-45.0)
    assert c.noise.rate_exc_hz == c.noise.rate_inh_hz == 2000.0
    assert c.e_leak_range_mV == (-55.0, -45.0) and c.describe()["neuron"] == c.neuron
    p = ProtocolConfig("rate", rates_hz=(1, 5))
    assert p.rates_hz == (1.0, 5.0) and p.describe()["rule_params"]
    for cfg in (t, c, p, SampleConfig(), EvaluateConfig(), FiguresConfig()):
        name = dataclasses.fields(cfg)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(cfg, name, None)


def test_tempering_study_takes_a_calibration_preset_name():
    from lifsampling.calibration import load_calibration
    from lifsampling.experiments import tempering_study as ts

    cfg = dataclasses.replace(ts.quick_config(), calibration="sbs-tutorial")
    cfg.validate()
    got, want = ts._calibration(cfg), load_calibration("sbs-tutorial")
    assert (got.u0_mV, got.alpha_mV) == (want.u0_mV, want.alpha_mV)
    assert got.u0_mV != load_calibration("fast-membrane").u0_mV  # not the default
