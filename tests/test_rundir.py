"""Run directories (``--run-dir DIR`` of the experiment commands, :mod:`lifsampling.rundir`):
the directory's name, ``config.json`` (options, the experiment's config, seeds, versions, the
SHA-256 of the input files), ``results.json`` holding exactly what ``--json`` prints, copies of
the figures and samples the run wrote; a failed or interrupted run leaves no ``results.json``;
``lifsampling report`` renders a command's directory. Also: the STP experiments' config
dataclasses refuse out-of-range values with a message naming the field."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _cli import cli

from lifsampling import __version__
from lifsampling.cli import main
from lifsampling.rundir import NAME_PATTERN, RunDirectory, new_directory


def only_run(root: Path, command: str) -> Path:
    """The one run directory of ``command`` under ``root``, its name checked."""
    dirs = sorted(root.iterdir())
    assert len(dirs) == 1, dirs
    m = re.fullmatch(NAME_PATTERN, dirs[0].name)
    assert m and m["name"] == command, dirs[0].name
    stamp = datetime.strptime(m["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 600
    return dirs[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_numbers(a, b) -> bool:
    """Equal as JSON (NaN equal to NaN)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A 794-20 classification RBM trained for one epoch on the built-in data, through
    ``train-rbm --run-dir``: (model path, its run directory)."""
    d = tmp_path_factory.mktemp("model")
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", ["lifsampling", "train-rbm", "--out", str(d / "m.npz"), "--hidden",
                             "20", "--epochs", "1", "--seed", "5", "--no-progress",
                             "--run-dir", str(d / "runs")])
    try:
        main()
    finally:
        mp.undo()
    return d / "m.npz", only_run(d / "runs", "train-rbm")


def test_train_rbm_run_dir_holds_config_results_and_the_model(model):
    from lifsampling.boltzmann.train import load_rbm

    path, run = model
    cfg = json.loads((run / "config.json").read_text())
    res = json.loads((run / "results.json").read_text())
    assert cfg["command"] == "train-rbm" and res["command"] == "train-rbm"
    assert cfg["versions"]["lifsampling"] == __version__
    assert {"python", "torch", "numpy"} <= cfg["versions"].keys()
    assert cfg["parameters"]["hidden"] == 20 and cfg["parameters"]["epochs"] == 1
    assert cfg["config"]["n_hidden"] == 20 and cfg["config"]["seed"] == 5  # TrainConfig
    assert cfg["seeds"] == {"seed": 5, "config.seed": 5}
    assert "out" not in cfg["inputs"]  # an output is not an input
    # the model file is copied, byte for byte, and results.json holds its accuracy
    assert sha256(run / "m.npz") == sha256(path)
    _, header = load_rbm(path)
    assert res["results"]["test_accuracy"] == header["history"][-1]["test_accuracy"]
    assert 0.0 < res["results"]["test_accuracy"] <= 1.0


def test_evaluate_results_equal_its_json_and_config_holds_the_model_sha(model, tmp_path,
                                                                         monkeypatch, capsys):
    path, _ = model
    code, out, err = cli(monkeypatch, capsys, "evaluate", path, "--ais-runs", "4",
                         "--ais-betas", "50", "--seed", "3", "--json",
                         "--run-dir", tmp_path / "runs")
    assert code == 0, err
    run = only_run(tmp_path / "runs", "evaluate")
    cfg = json.loads((run / "config.json").read_text())
    res = json.loads((run / "results.json").read_text())
    printed = json.loads(out)
    assert same_numbers(res["results"], printed)
    assert -200.0 < printed["test_log_likelihood"] < 0.0  # nats per image: a real number
    assert cfg["inputs"]["model"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cfg["inputs"]["model"]["bytes"] == path.stat().st_size
    assert cfg["parameters"]["ais_runs"] == 4 and cfg["seeds"] == {"seed": 3, "config.seed": 3}
    assert cfg["config"] == {"data": "builtin", "ais_runs": 4, "ais_betas": 50, "seed": 3}
    assert not (run / "error.json").exists()

    # lifsampling report renders the command's directory with the results' numbers
    page = tmp_path / "r.html"
    code, _, err = cli(monkeypatch, capsys, "report", run, "--out", page)
    assert code == 0, err
    text = page.read_text()
    m = re.search(r'<table class="results">.*?</table>', text, re.S)
    assert m, "no results table"
    cell = re.search(r"<td>log_z</td><td class=\"num\" data-value=\"([^\"]+)\"", m.group(0))
    assert cell and float(cell.group(1)) == printed["log_z"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() in text


def test_sample_copies_the_samples_and_records_the_class_switches(model, tmp_path,
                                                                   monkeypatch, capsys):
    from lifsampling.io import read_npz

    path, _ = model
    code, _, err = cli(monkeypatch, capsys, "sample", path, "--n", "30", "--chains", "2",
                       "--out", tmp_path / "s.npz", "--seed", "1",
                       "--run-dir", tmp_path / "runs")
    assert code == 0, err
    run = only_run(tmp_path / "runs", "sample")
    assert sha256(run / "s.npz") == sha256(tmp_path / "s.npz")
    res = json.loads((run / "results.json").read_text())["results"]
    meta = json.loads(str(read_npz(tmp_path / "s.npz")["meta"]))
    assert res["n"] == meta["n"] == 30 and res["chains"] == 2 and res["seed"] == 1
    cfg = json.loads((run / "config.json").read_text())["config"]  # the SampleConfig
    assert (cfg["sampler"], cfg["n"], cfg["chains"], cfg["seed"]) == ("gibbs", 30, 2, 1)
    assert res["class_switches_per_1000"] >= 0.0


def test_plot_goes_into_the_run_dir(tmp_path, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "sample-bm", "--units", "3", "--duration-ms",
                         "500", "--chains", "1", "--correction", "none", "--seed", "2",
                         "--plot", tmp_path / "kl.png", "--json",
                         "--run-dir", tmp_path / "runs")
    assert code == 0, err
    run = only_run(tmp_path / "runs", "sample-bm")
    assert (run / "kl.png").read_bytes() == (tmp_path / "kl.png").read_bytes()
    assert (run / "kl.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((run / "results.json").read_text())
    assert same_numbers(res["results"], json.loads(out))
    assert 0.0 <= res["results"]["kl_lif"] < 5.0
    assert json.loads((run / "config.json").read_text())["inputs"] == {}  # preset, no file


def test_stp_sweep_config_is_the_dataclass_and_the_figures_are_copied(model, tmp_path,
                                                                      monkeypatch, capsys):
    from lifsampling.experiments.stp_sweep import STPSweepConfig

    path, _ = model
    code, out, err = cli(monkeypatch, capsys, "stp-sweep", path, "--U", "0.2",
                         "--tau-rec-ms", "100", "--samples", "10", "--chains", "2",
                         "--pilot-ms", "20", "--device", "cpu", "--out", tmp_path / "sweep",
                         "--json", "--run-dir", tmp_path / "runs")
    assert code == 0, err
    run = only_run(tmp_path / "runs", "stp-sweep")
    cfg = json.loads((run / "config.json").read_text())
    expected = dataclasses.asdict(STPSweepConfig(U_values=(0.2,), tau_values=(100.0,),
                                                 n_samples=10, chains=2, pilot_ms=20.0,
                                                 device="cpu"))
    assert cfg["config"] == json.loads(json.dumps(expected))
    assert cfg["inputs"]["model"]["sha256"] == sha256(path)
    res = json.loads((run / "results.json").read_text())["results"]
    assert same_numbers(res, json.loads(out))
    assert res["grid"][0]["U"] == 0.2 and 0.0 <= res["grid"][0]["mean_pixel"] <= 1.0
    for name in ("stp_sweep.png", "stp_sweep.json"):  # the --out folder's files, copied
        assert sha256(run / "out" / name) == sha256(tmp_path / "sweep" / name)


def test_interrupted_run_leaves_config_and_error_but_no_results(tmp_path, monkeypatch, capsys):
    import lifsampling.temperature as temperature

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(temperature, "theory_temperature_map", interrupted)
    code, _, err = cli(monkeypatch, capsys, "temperature-map", "--no-measure",
                       "--run-dir", tmp_path / "runs", "--out", tmp_path / "t.json")
    assert code == 130, err
    run = only_run(tmp_path / "runs", "temperature-map")
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "error.json"]
    assert "KeyboardInterrupt" in json.loads((run / "error.json").read_text())["error"]
    assert not (tmp_path / "t.json").exists()
    code, _, err = cli(monkeypatch, capsys, "report", run, "--out", tmp_path / "r.html")
    assert code == 2 and "no results.json" in err and not (tmp_path / "r.html").exists()


def test_failing_run_writes_error_json(tmp_path, monkeypatch, capsys):
    import lifsampling.temperature as temperature

    def broken(*args, **kwargs):
        raise ValueError("rates out of the map")

    monkeypatch.setattr(temperature, "theory_temperature_map", broken)
    code, _, err = cli(monkeypatch, capsys, "temperature-map", "--no-measure",
                       "--run-dir", tmp_path / "runs")
    assert code == 2 and err == "error: rates out of the map\n"
    run = only_run(tmp_path / "runs", "temperature-map")
    assert not (run / "results.json").exists()
    assert json.loads((run / "error.json").read_text())["error"] == \
        "ValueError: rates out of the map"


def test_without_run_dir_nothing_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(monkeypatch, capsys, "temperature-map", "--no-measure", "--json")
    assert code == 0, err
    assert json.loads(out)["hcs_map"]["reference_rate_hz"] == 3000.0
    assert list(tmp_path.iterdir()) == []


def test_run_directories_are_unique_and_stay_inside(tmp_path):
    a, b = new_directory(tmp_path, "x"), new_directory(tmp_path, "x")
    assert a != b and a.is_dir() and b.is_dir()
    assert all(re.fullmatch(NAME_PATTERN, p.name)["name"] == "x" for p in (a, b))
    run = RunDirectory.create(tmp_path, "y", {"k": 1})
    assert json.loads((run.path / "config.json").read_text())["k"] == 1
    for bad in ("../escape.png", "/abs.png", ""):
        with pytest.raises(ValueError, match="inside the run directory"):
            run.figure_path(bad)
    with pytest.raises(ValueError, match="one word"):
        new_directory(tmp_path, "a b")
    # an output folder that holds the run directory itself: the run is not copied into itself
    (tmp_path / "fig.png").write_bytes(b"png")
    copied = run.add_tree(tmp_path, "out")
    assert [p.relative_to(run.path).as_posix() for p in copied] == ["out/fig.png"]


def test_an_input_folder_is_hashed_file_by_file(tmp_path):
    from lifsampling.cli._run import MAX_HASHED_FILES, _describe_input

    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.idx").write_bytes(b"abc")
    (tmp_path / "d" / "sub" / "b.idx").write_bytes(b"xyz" * 1000)
    (tmp_path / "d" / ".hidden").write_bytes(b"no")
    d = _describe_input(tmp_path / "d")
    assert sorted(d["files"]) == ["a.idx", "sub/b.idx"]
    assert d["files"]["sub/b.idx"] == {"path": str(tmp_path / "d" / "sub" / "b.idx"),
                                       "bytes": 3000,
                                       "sha256": hashlib.sha256(b"xyz" * 1000).hexdigest()}
    (tmp_path / "big").mkdir()
    for k in range(MAX_HASHED_FILES + 1):
        (tmp_path / "big" / f"{k}.bin").write_bytes(b"")
    big = _describe_input(tmp_path / "big")
    assert big["files"] is None and "not hashed" in big["note"]
    assert _describe_input("builtin") is None and _describe_input(None) is None


# --------------------------------------------------------------------------- configs
def _configs():
    from lifsampling.experiments.hcs_compare import HCSCompareConfig
    from lifsampling.experiments.small_bm import SmallBMConfig
    from lifsampling.experiments.spiking_fidelity import FidelityConfig
    from lifsampling.experiments.stp_classify import ClassifyConfig
    from lifsampling.experiments.stp_imbalance import ImbalanceConfig
    from lifsampling.experiments.stp_mixing import MixingConfig
    from lifsampling.experiments.stp_sweep import STPSweepConfig
    from lifsampling.experiments.tempering_rate import TemperatureMapConfig

    return {"classify": ClassifyConfig, "mixing": MixingConfig, "sweep": STPSweepConfig,
            "imbalance": ImbalanceConfig, "small_bm": SmallBMConfig,
            "temperature_map": TemperatureMapConfig, "hcs": HCSCompareConfig,
            "fidelity": FidelityConfig}


CONFIG_CASES = [
    ("classify", {"n_test": 0}, "n_test must be >= 1, got 0"),
    ("classify", {"duration_ms": 0.0}, "duration_ms must be > 0, got 0"),
    ("classify", {"duration_ms": float("inf")}, "duration_ms must be a finite number"),
    ("classify", {"burn_in_ms": -1.0}, "burn_in_ms must be >= 0, got -1"),
    ("classify", {"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ("classify", {"clamp": "glue"}, "clamp must be folded or spiking, got 'glue'"),
    ("classify", {"correction_file": "c.json"}, "correction_file applies to the synapses"),
    ("classify", {"device": "tpu"}, "device must be auto, cpu, cuda or cuda:k"),
    ("mixing", {"samplers": ("gibbs", "hmc")}, "unknown sampler(s) ['hmc']"),
    ("mixing", {"samplers": ("gibbs", "gibbs")}, "samplers repeat a sampler"),
    ("mixing", {"n_samples": 2}, "n_samples must be >= 3, got 2"),
    ("mixing", {"chains": 0}, "chains must be >= 1, got 0"),
    ("mixing", {"U": 1.5}, "U must be in (0, 1], got 1.5"),
    ("mixing", {"U": 0.0}, "U must be in (0, 1], got 0"),
    ("mixing", {"tau_rec_ms": -5.0}, "tau_rec_ms must be > 0, got -5"),
    ("mixing", {"pilot_ms": 0.0}, "pilot_ms must be > 0, got 0"),
    ("mixing", {"seeds": ()}, "seeds is empty"),
    ("mixing", {"seeds": (1, 1)}, "seeds repeat a seed"),
    ("mixing", {"seeds": (-1,)}, "seeds must be whole numbers >= 0"),
    ("mixing", {"n_samples": 10.5}, "n_samples must be a whole number"),
    ("sweep", {"U_values": (0.1, 2.0)}, "U_values must be in (0, 1], got 2"),
    ("sweep", {"tau_values": ()}, "tau_values is empty"),
    ("sweep", {"tau_values": (0.0,)}, "tau_values must be > 0, got 0"),
    ("sweep", {"n_samples": 1}, "n_samples must be >= 3, got 1"),
    ("sweep", {"seeds": (-2,)}, "seeds must be whole numbers >= 0, got -2"),
    ("sweep", {"seeds": (1, 1)}, "seeds repeat a seed: [1, 1]"),
    ("imbalance", {"epochs": 0}, "epochs must be >= 1, got 0"),
    ("imbalance", {"train_seed": True}, "train_seed must be a whole number"),
    ("imbalance", {"U": 3.0}, "U must be in (0, 1], got 3"),
    ("imbalance", {"samplers": ()}, "unknown sampler(s) []"),
    ("small_bm", {"units": 17}, "units must be between 1 and 16"),
    ("small_bm", {"units": 0}, "units must be >= 1, got 0"),
    ("small_bm", {"machines": 0}, "machines must be >= 1, got 0"),
    ("small_bm", {"duration_ms": float("nan")}, "duration_ms must be a finite number"),
    ("small_bm", {"burn_in_ms": -1.0}, "burn_in_ms must be >= 0"),
    ("small_bm", {"synapses": "tsodyks"}, "synapses must be renewing or additive"),
    ("small_bm", {"correction": "magic"}, "correction must be one of none, couplings"),
    ("small_bm", {"pilot_ms": 0.0}, "pilot_ms must be > 0"),
    ("small_bm", {"pilot_iterations": 0}, "pilot_iterations must be >= 1"),
    ("small_bm", {"simulator": "brian"}, "simulator must be engine or nest"),
    ("temperature_map", {"rates_hz": (3000.0,)}, "rates_hz needs at least two rates"),
    ("temperature_map", {"rates_hz": (3000.0, -1.0)}, "rates_hz must be > 0, got -1"),
    ("temperature_map", {"reference_rate_hz": 0.0}, "reference_rate_hz must be > 0"),
    ("temperature_map", {"points": 4}, "points must be >= 5, got 4"),
    ("temperature_map", {"chains": 0}, "chains must be >= 1, got 0"),
    ("hcs", {"rates_hz": (1000.0, -5.0)}, "rates_hz must all be > 0 Hz"),
    ("hcs", {"weights_nS": ()}, "weights_nS must be a non-empty list"),
    ("hcs", {"ratios": (0.0,)}, "ratios must all be > 0"),
    ("hcs", {"tau_syn_ms": 0.0}, "tau_syn_ms must be > 0"),
    ("hcs", {"points": 4}, "points must be >= 5"),
    ("hcs", {"chains": 1}, "chains must be >= 2 (the standard error needs them)"),
    ("hcs", {"e_leak_range_mV": (-50.0, -55.0)}, "empty leak-potential range [-50, -55] mV"),
    ("hcs", {"dt_ms": -0.1}, "dt_ms must be > 0"),
    ("hcs", {"kl_machines": 0}, "kl_machines must be >= 1"),
    ("hcs", {"curves": False}, "nothing to do"),
    ("fidelity", {"images": 1}, "images must be >= 2, got 1"),
    ("fidelity", {"pilot_images": 0}, "pilot_images must be >= 2"),
    ("fidelity", {"duration_ms": 0.0}, "duration_ms must be > 0"),
    ("fidelity", {"burn_in_ms": -1.0}, "burn_in_ms must be >= 0"),
    ("fidelity", {"pilot_duration_ms": 0.0}, "pilot_duration_ms must be > 0"),
    ("fidelity", {"iterations": 0}, "iterations must be >= 1"),
    ("fidelity", {"fit": True, "correction_file": "c.json"}, "exclude each other"),
    ("fidelity", {"stagger": 1}, "stagger must be true or false"),
]


@pytest.mark.parametrize("name, kwargs, message", CONFIG_CASES,
                         ids=[f"{c[0]}-{next(iter(c[1]))}" for c in CONFIG_CASES])
def test_configs_refuse_out_of_range_values(name, kwargs, message):
    cls = _configs()[name]
    with pytest.raises(ValueError) as exc:
        cls(**kwargs)
    assert message in str(exc.value)


def test_configs_keep_valid_values_and_defaults():
    c = _configs()
    m = c["mixing"](samplers=["stp", "gibbs"], seeds=[3, 4], n_samples=5)
    assert m.samplers == ("stp", "gibbs") and m.seeds == (3, 4) and m.n_samples == 5
    cc = m.comparison()
    assert cc.samplers == ("stp", "gibbs") and cc.options.U == 0.1 and cc.seeds == (3, 4)
    s = c["sweep"](U_values=[0.5], tau_values=[10])
    assert s.U_values == (0.5,) and s.tau_values == (10.0,)
    i = c["imbalance"](chains=2)
    assert i.mixing().chains == 2 and i.mixing().samplers == ("stp", "gibbs", "ast")
    h = c["hcs"](rates_hz=(3000,), weights_nS=(1, 2), ratios=(2,), tau_syn_ms=8.0)
    assert [(x.rate_hz, x.weight_nS, x.tau_ref_ms, x.tau_m_ms) for x in h.curve_configs()] == [
        (3000.0, 1.0, 4.0, 1.0), (3000.0, 2.0, 4.0, 1.0), (3000.0, 1.0, 8.0, 10.0)]
    b = c["small_bm"](units=3, machines=2, seed=4)
    assert [m.n for m in b.random_machines()] == [3, 3]
    from lifsampling.experiments.small_bm import uniform_bm

    assert b.random_machines()[1].W.tolist() == uniform_bm(3, 5).W.tolist()
    k = c["classify"](clamp="spiking", correction_file=Path("c.json"))
    assert k.correction_file == "c.json"
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.clamp = "folded"
