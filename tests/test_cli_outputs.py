"""Where the commands write: only where an option points or, when no option names a place, the
per-user location under ``lifsampling.datasets.cache_dir()`` (announced on stderr), never the
working directory; and files get the mode the umask allows.

Each command runs in an empty working directory with ``LIFSAMPLING_CACHE`` pointing at another
temporary folder. stp-sweep, report and plasticity-figures run for real (smallest settings); the
commands whose cheapest run takes minutes (demo, stp-mixing, stp-imbalance, tempering-study,
reproduce, sweep) run with their experiment function replaced by one that writes a file into
the folder the command hands it, so the test checks the path each command resolves."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from _cli import cli

from lifsampling.cli import main


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """(working directory, cache): both empty; the command runs in the first."""
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("LIFSAMPLING_CACHE", str(cache))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return work, cache


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A 794-20 classification RBM, one epoch on the built-in data."""
    d = tmp_path_factory.mktemp("model")
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", ["lifsampling", "train-rbm", "--out", str(d / "m.npz"), "--hidden",
                             "20", "--epochs", "1", "--seed", "5", "--no-progress"])
    try:
        main()
    finally:
        mp.undo()
    return d / "m.npz"


def test_stp_sweep_and_report_write_into_the_user_location(places, model, monkeypatch, capsys):
    work, cache = places
    code, out, err = cli(monkeypatch, capsys, "stp-sweep", model, "--U", "0.2",
                         "--tau-rec-ms", "100", "--samples", "10", "--chains", "2",
                         "--pilot-ms", "20", "--device", "cpu", "--threads", "1",
                         "--run-dir", work.parent / "runs")
    assert code == 0, err
    assert f"--out not given: wrote to {cache / 'stp' / 'sweep'}" in err
    assert f"results and heat maps in {cache / 'stp' / 'sweep'}/" in out
    assert files(cache) == ["stp/sweep/stp_sweep.json", "stp/sweep/stp_sweep.png"]
    assert files(work) == []
    run = next((work.parent / "runs").iterdir())
    assert {"out/stp_sweep.json", "out/stp_sweep.png"} <= set(files(run))  # the default, copied

    code, out, err = cli(monkeypatch, capsys, "report", run)
    assert code == 0, err
    page = cache / "reports" / "report.html"
    assert f"--out not given: wrote to {page}" in err and out.startswith(str(page))
    assert page.read_text().count("stp-sweep") >= 1
    assert files(work) == []
    code, _, err = cli(monkeypatch, capsys, "report", run, "--out", "here.html")  # asked for
    assert code == 0, err
    assert files(work) == ["here.html"]


def test_plasticity_figures_default_folders(places, monkeypatch, capsys):
    work, cache = places
    code, out, err = cli(monkeypatch, capsys, "plasticity-figures", "--reps", "1",
                         "--no-correlation", "--device", "cpu")
    assert code == 0, err
    assert files(work) == []
    assert files(cache) == ["calcium/figures/calcium_frequency.png",
                            "calcium/figures/calcium_rate.png",
                            "calcium/figures/calcium_stdp.png",
                            "calcium/results/calcium_protocols.json"]
    assert f"figures in {cache / 'calcium' / 'figures'}/" in out


def _writes_into(name: str, seen: dict, result):
    """An experiment function that writes ``marker.txt`` into its output folder argument."""
    def run(*args, **kwargs):
        folder = kwargs.get("out_dir")
        if folder is None:  # ClaimConfig.out_dir, else the first path argument
            folder = next((a.out_dir for a in args if hasattr(a, "out_dir")), None) or next(
                a for a in args if isinstance(a, os.PathLike))
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "marker.txt").write_text(name)
        seen[name] = folder
        return result() if callable(result) else result
    return run


def test_long_commands_resolve_their_default_folders(places, model, tmp_path, monkeypatch,
                                                     capsys):
    import lifsampling.experiments.demo as demo
    import lifsampling.experiments.reproduce as reproduce
    import lifsampling.experiments.stp_imbalance as imbalance
    import lifsampling.experiments.stp_mixing as mixing
    import lifsampling.experiments.tempering_study as ts
    import lifsampling.sweep as sweep
    from lifsampling.boltzmann.train import load_rbm

    work, cache = places
    seen: dict[str, Path] = {}
    monkeypatch.setattr(demo, "run_demo", _writes_into("demo", seen, {"small_bm": {}}))
    monkeypatch.setattr(mixing, "run_mixing", _writes_into(
        "stp-mixing", seen, {"config": {}, "class_histogram_vs_training": {}}))
    monkeypatch.setattr(mixing, "summary", lambda res, key: {})
    monkeypatch.setattr(imbalance, "run_imbalance", _writes_into(
        "stp-imbalance", seen, {"config": {}, "class_histogram_vs_training": {}}))
    trained = []

    def train(path, **kwargs):  # writes the model where the command says, as the real one
        trained.append(Path(path))
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(model.read_bytes())
        return load_rbm(path)[0], [0.1] * 10

    monkeypatch.setattr(imbalance, "train_imbalanced", train)
    monkeypatch.setattr(ts, "run", _writes_into("tempering-study", seen, {"conditions": []}))
    monkeypatch.setattr(reproduce, "run_claim", _writes_into("reproduce", seen, {"claim": "hcs"}))
    monkeypatch.setattr(sweep, "run_sweep", _writes_into(
        "sweep", seen, {"tasks_failed": 0, "tasks_missing": 0}))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"claim": "hcs", "quick": True, "seeds": [0]}))

    commands = {
        "demo": (["demo", "--json", "--device", "cpu"], cache / "demo"),
        "stp-mixing": (["stp-mixing", model, "--json", "--device", "cpu"], cache / "stp/mixing"),
        "stp-imbalance": (["stp-imbalance", "--json", "--device", "cpu"],
                          cache / "stp/imbalance"),
        "tempering-study": (["tempering-study", "--quick", "--json"],
                            cache / "tempering/quick"),
        "reproduce": (["reproduce", "hcs", "--quick", "--json", "--device", "cpu"],
                      cache / "runs"),
        "sweep": (["sweep", spec, "--json"], cache / "runs"),
    }
    for name, (args, folder) in commands.items():
        code, out, err = cli(monkeypatch, capsys, *args)
        assert code == 0, (name, err)
        assert seen[name] == folder, name
        assert (folder / "marker.txt").read_text() == name
        assert f"--out not given: wrote to {folder}" in err, (name, err)
        json.loads(out)  # stdout stays the JSON alone
        assert files(work) == [], name
    default_model = cache / "models" / "rbm_mnist_500_imbalanced.npz"
    assert trained == [default_model] and default_model.is_file()
    # a second run finds the model in the user location and says so
    code, _, err = cli(monkeypatch, capsys, *commands["stp-imbalance"][0])
    assert code == 0 and f"--model not given: used {default_model}" in err
    assert trained == [default_model] * 2  # loaded from the same path the second time
    assert files(work) == []


def test_a_default_that_cannot_be_written_is_refused_before_the_run(places, monkeypatch,
                                                                    capsys):
    work, cache = places
    cache.write_text("not a folder")
    code, out, err = cli(monkeypatch, capsys, "plasticity-figures", "--reps", "1",
                         "--no-correlation")
    assert code == 2 and err.startswith("error: --out not given: ") and err.count("\n") == 1
    assert "is a file, not a folder" in err
    assert files(work) == [] and cache.read_text() == "not a folder"


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_umasks_mode(tmp_path, mask, mode):
    import numpy as np

    from lifsampling.io import write_json, write_npz

    old = os.umask(mask)
    try:
        a = write_json(tmp_path / "a.json", {"x": 1})
        b = write_npz(tmp_path / "b.npz", x=np.zeros(2))
    finally:
        os.umask(old)
    assert stat.S_IMODE(a.stat().st_mode) == mode
    assert stat.S_IMODE(b.stat().st_mode) == mode
    assert json.loads(a.read_text()) == {"x": 1}
