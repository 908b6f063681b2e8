"""Sweeps on Dask (lifsampling.sweep, ``lifsampling sweep``): spec validation, claim parameter
overrides, a 2-worker LocalCluster whose worker is killed mid-run (the rerun completes exactly
the missing task, every other result untouched), and the one-line refusals of the CLI."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from lifsampling.cli import main
from lifsampling.experiments.reproduce import ClaimConfig, check_applied, get_claim
from lifsampling.sweep import (
    SweepSpec,
    _claim_config,
    execute,
    parse_spec,
    read_record,
    run_sweep,
    sweep_dir,
    task_key,
)


# --------------------------------------------------------------------------- the test task
def _value(n: int, seed: int) -> float:
    """The test task's figure: the mean of n standard normal draws of seed ``seed``."""
    return float(np.random.default_rng(seed).standard_normal(n).mean())


# tasks whose worker is killed on their first attempts: key -> number of attempts killed
KILLS = {task_key({"n": 1000}, 1): 2}


def draws(params: dict, seed: int, out: Path) -> dict:
    """A task (params, seed, directory) -> {"figure"}: notes each attempt in its directory and
    SIGKILLs its own worker process on the first attempts listed in KILLS."""
    attempts = len(list(out.glob("attempt-*")))
    (out / f"attempt-{os.getpid()}-{uuid.uuid4().hex[:6]}").write_text("")
    if attempts < KILLS.get(task_key(params, seed), 0):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"figure": _value(params["n"], seed), "n": params["n"]}


@pytest.fixture(scope="module", autouse=True)
def _by_value():
    """Workers get this module's task functions by value (they need not import tests/)."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


# --------------------------------------------------------------------------- spec validation
SPEC = {"claim": "hcs", "grid": {"points": [3, 5], "duration_ms": [500.0]}, "seeds": [0, 4],
        "quick": True, "device": "cpu"}


def test_spec_tasks_are_the_grid_times_the_seeds():
    spec = parse_spec(SPEC)
    tasks = spec.tasks()
    assert [(t.params["points"], t.seed) for t in tasks] == [(3, 0), (3, 4), (5, 0), (5, 4)]
    assert len({t.key for t in tasks}) == 4
    assert tasks[0].key == "duration_ms=500.0_points=3_seed=0"
    # the directory (and the keys) do not depend on the order of the grid
    flipped = parse_spec({**SPEC, "grid": {"duration_ms": [500.0], "points": [3, 5]}})
    assert sweep_dir(flipped, "o") == sweep_dir(spec, "o")
    assert {t.key for t in flipped.tasks()} == {t.key for t in tasks}
    assert sweep_dir(parse_spec({**SPEC, "seeds": [0]}), "o") != sweep_dir(spec, "o")
    # odd characters in values are replaced and the key gets a hash
    k = task_key({"s": "a/b c"}, 0)
    assert "/" not in k and " " not in k and k != task_key({"s": "a-b c"}, 0)


@pytest.mark.parametrize("patch, message", [
    ({"claim": "nope"}, "unknown claim 'nope'"),
    ({"claim": 3}, "claim name"),
    ({"colour": 1}, "unknown key 'colour'"),
    ({"grid": [1, 2]}, "\"grid\" must be an object"),
    ({"grid": {"points": []}}, "non-empty list"),
    ({"grid": {"points": [3, 3]}}, "repeats a value"),
    ({"grid": {"points": [{"a": 1}]}}, "values are numbers"),
    ({"grid": {"nonsense": [1]}}, "parameter 'nonsense' cannot be set"),
    ({"grid": {"points": [2.5]}}, "'points' must be a whole number"),
    ({"grid": {"chains": [0]}}, "'chains' must be > 0"),
    ({"grid": {"duration_ms": ["long"]}}, "'duration_ms' must be a number"),
    ({"seeds": []}, "non-empty list"),
    ({"seeds": [0, 0]}, "repeats a seed"),
    ({"seeds": [-1]}, "seed -1"),
    ({"seeds": None}, "is seeded"),
    ({"quick": "yes"}, "\"quick\" must be true or false"),
    ({"device": "tpu"}, "unknown device 'tpu'"),
    ({"name": "a/b"}, "\"name\" must be"),
])
def test_bad_spec_is_refused_with_one_line(patch, message):
    spec = {**SPEC, **patch}
    spec = {k: v for k, v in spec.items() if not (k == "seeds" and v is None)}
    with pytest.raises(ValueError) as exc:
        parse_spec(spec, where="spec s.json")
    text = str(exc.value)
    assert text.startswith("spec s.json: ") and "\n" not in text and message in text, text


def test_unseeded_claim_takes_no_seeds():
    with pytest.raises(ValueError, match="has no seeds"):
        parse_spec({"claim": "throughput", "seeds": [0], "quick": True})
    assert parse_spec({"claim": "throughput", "quick": True}).tasks()[0].seed is None


def test_claim_overrides_are_applied_typed_and_checked():
    claim = get_claim("core-kl")
    cfg = ClaimConfig(quick=True, overrides={"duration_ms": 5000, "machines": 2},
                      seed_values=(7, 3))
    p = claim.parameters(cfg)
    assert p["duration_ms"] == 5000.0 and isinstance(p["duration_ms"], float)
    assert p["machines"] == 2 and p["seeds"] == [7, 3] and p["chains"] == 10
    check_applied(claim, cfg, p)
    # a claim that does not call ClaimConfig.tuned refuses every override
    rbm = get_claim("rbm-accuracy")
    cfg = ClaimConfig(quick=True, overrides={"epochs": 97})
    with pytest.raises(ValueError, match="does not take parameter 'epochs'"):
        check_applied(rbm, cfg, rbm.parameters(cfg))
    for bad in ({"seed_values": ()}, {"seed_values": (1, 1)}, {"seed_values": (-2,)},
                {"seed_values": (1,), "seeds": 2}, {"overrides": [1]}):
        with pytest.raises(ValueError):
            ClaimConfig(**bad)


def test_seed_studies_take_their_parameters_as_a_grid():
    """The seed-replicated studies run through a sweep: tempering over frequencies x seeds,
    STP over U x seeds (STP alone, by naming the samplers); bad values are refused up front."""
    spec = parse_spec({"claim": "tempering", "grid": {"frequency_hz": [5.0, 10.0, 20.0]},
                       "seeds": [100, 101], "quick": True})
    tasks = spec.tasks()
    assert len(tasks) == 6 and {t.seed for t in tasks} == {100, 101}
    p = get_claim("tempering").parameters(_claim_config(spec, tasks[2], Path(".")))
    assert p["frequency_hz"] == 10.0 and p["seeds"] == [100]
    spec = parse_spec({"claim": "stp-mixing", "grid": {"U": [0.05, 0.2],
                                                       "samplers": [["stp", "gibbs"]]},
                       "seeds": [0, 1], "quick": True})
    p = get_claim("stp-mixing").parameters(_claim_config(spec, spec.tasks()[0], Path(".")))
    assert p["U"] == 0.05 and p["samplers"] == ["stp", "gibbs"]
    for claim, grid, message in [
            ("tempering", {"frequency_hz": [-1.0]}, "must be > 0"),
            ("stp-mixing", {"samplers": [["gibbs"]]}, "needs \"stp\""),
            ("stp-mixing", {"samplers": [["stp", "hmc"]]}, "distinct names among"),
            ("stp-mixing", {"U": [1.5]}, "0 < U <= 1"),
            ("classical-mixing", {"samplers": [["gibbs", "ast"]]}, "needs \"pt\""),
            ("stp-classify", {"n_test": [0]}, "must be > 0")]:
        with pytest.raises(ValueError, match=message):
            parse_spec({"claim": claim, "grid": grid, "seeds": [0], "quick": True})


# --------------------------------------------------------------------------- a claim task
def test_claim_task_writes_one_record_matching_its_run(tmp_path):
    spec = parse_spec({"claim": "hcs", "grid": {"points": [3], "duration_ms": [300.0],
                                                "chains": [2]},
                       "seeds": [2], "quick": True, "device": "cpu"})
    (task,) = spec.tasks()
    sdir = tmp_path / "s"
    rec = execute(spec, task, str(sdir))
    assert read_record(sdir, task.key) == json.loads(json.dumps(rec))
    run_dir = sdir / rec["run_dir"]
    res = json.loads((run_dir / "results.json").read_text())
    cfg = json.loads((run_dir / "config.json").read_text())
    assert rec["figure"] == res["summary"]["figure"] and res["summary"]["seeds"] == [2]
    assert cfg["parameters"]["points"] == 3 and cfg["parameters"]["duration_ms"] == 300.0
    assert cfg["parameters"]["chains"] == 2 and cfg["overrides"]["points"] == 3
    # the figure is the max |p_theory - p_sim| over the curves: a probability error
    assert 0.0 <= rec["figure"] <= 1.0
    assert rec["figure"] == pytest.approx(max(c["max_abs_error"]
                                              for c in res["per_seed"][0]["per_curve"]))


# --------------------------------------------------------------------------- on a cluster
def test_killed_worker_then_rerun_completes_exactly_the_missing_task(tmp_path, capsys):
    import dask
    import distributed  # noqa: F401  (its defaults load before the override below)

    spec = SweepSpec(claim=None, grid={"n": [100, 1000]}, seeds=(0, 1, 2), name="draws")
    keys = [t.key for t in spec.tasks()]
    killed = next(iter(KILLS))
    assert killed in keys
    # run 1, no retries: the task whose worker dies is reported failed, the others finish
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        s1 = run_sweep(spec, tmp_path, workers=2, function=draws)
    # (a task already sent to the dying worker fails with it)
    failed = {r["key"] for r in s1["tasks"] if r["status"] == "failed"}
    assert killed in failed and len(failed) <= 2 and s1["ran"] == 6
    assert s1["tasks_done"] == 6 - len(failed) and s1["tasks_missing"] == 0
    assert all("KilledWorker" in r["error"] for r in s1["tasks"] if r["key"] in failed)
    sdir = Path(s1["sweep_dir"])
    before = {k: read_record(sdir, k) for k in keys if k not in failed}
    assert all(before.values()) and all(read_record(sdir, k) is None for k in failed)

    def attempts() -> dict[str, int]:  # Dask runs a task at least once (again if its result
        # was lost with a worker); each attempt leaves a file in the task's directory
        return {k: len(list((sdir / "tasks" / k).glob("attempt-*"))) for k in keys}

    after1 = attempts()
    assert after1[killed] == 1 and all(after1[k] >= 1 for k in before)
    # run 2, Dask's default retries: the task's worker is killed once more and the task is
    # retried on the restarted worker; the finished tasks are not run again
    s2 = run_sweep(spec, tmp_path, workers=2, function=draws)
    assert s2["sweep_dir"] == s1["sweep_dir"]
    assert s2["ran"] == len(failed) and s2["skipped_finished"] == 6 - len(failed)
    assert s2["tasks_done"] == 6 and s2["tasks_failed"] == 0 == s2["tasks_missing"]
    after2 = attempts()
    assert after2[killed] == 3  # killed in run 1, killed and retried in run 2
    assert all(after2[k] == after1[k] for k in before)  # finished tasks did not run again
    assert all(after2[k] >= 1 for k in failed)
    assert {k: read_record(sdir, k) for k in before} == before  # untouched
    files = sorted(p.name for p in (sdir / "results").iterdir())
    assert files == sorted(f"{k}.json" for k in keys)  # one result per task, no temp files
    for row in s2["tasks"]:  # every figure is its own task's, computed independently here
        assert row["figure"] == _value(row["params"]["n"], row["seed"])
    for p in s2["points"]:
        assert p["n"] == 3 and p["seeds"] == [0, 1, 2]
        assert p["mean"] == pytest.approx(np.mean([_value(p["params"]["n"], s)
                                                   for s in (0, 1, 2)]))
        lo, hi = p["ci95"]
        assert lo <= p["mean"] <= hi
    on_disk = json.loads((sdir / "sweep.json").read_text())
    assert on_disk["tasks_done"] == 6 and on_disk["ran"] == len(failed)
    # a third run has nothing to do and starts no cluster
    s3 = run_sweep(spec, tmp_path, function=draws)
    assert s3["ran"] == 0 and s3["tasks_done"] == 6 and s3["cluster"].startswith("none")
    # the command's table: one row per grid point with its mean and interval
    from lifsampling.cli.sweep import print_table

    capsys.readouterr()
    print_table(s3)
    lines = capsys.readouterr().out.splitlines()
    for p in s3["points"]:
        (row,) = [ln for ln in lines if f" {p['params']['n']} " in ln]
        assert f"{p['mean']:.4g}" in row and f"{p['ci95'][0]:.4g}..{p['ci95'][1]:.4g}" in row


# --------------------------------------------------------------------------- the command line
def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["lifsampling", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("case, message", [
    ("malformed", "not valid JSON"),
    ("not_object", "must be a JSON object"),
    ("unknown_claim", "unknown claim 'nope'"),
    ("missing", "not found"),
    ("workers", "--workers"),
    ("workers_and_scheduler", "has its own workers"),
    ("bad_address", "not a scheduler address"),
    ("no_scheduler", "no Dask scheduler answered at tcp://127.0.0.1:9 within 5 s"),
])
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, monkeypatch, capsys,
                                                          case, message):
    d = tmp_path
    (d / "malformed.json").write_text('{"claim": "hcs", ')
    (d / "not_object.json").write_text("[1, 2]")
    (d / "unknown_claim.json").write_text('{"claim": "nope"}')
    (d / "good.json").write_text(json.dumps(SPEC))
    spec = {"malformed": "malformed.json", "not_object": "not_object.json",
            "unknown_claim": "unknown_claim.json", "missing": "missing.json"}.get(case,
                                                                                  "good.json")
    extra = {"workers": ["--workers", "0"],
             "workers_and_scheduler": ["--workers", "2", "--scheduler", "localhost:8786"],
             "bad_address": ["--scheduler", "http//x"],
             "no_scheduler": ["--scheduler", "tcp://127.0.0.1:9"]}.get(case, [])
    before = sorted(p.name for p in d.iterdir())
    code, _, err = _cli(monkeypatch, capsys, "sweep", str(d / spec), "--out", str(d / "runs"),
                        *extra)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert sorted(p.name for p in d.iterdir()) == before  # no runs/ directory


def test_cli_ctrl_c_is_exit_130(tmp_path, monkeypatch, capsys):
    import lifsampling.sweep as sweep

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupted)
    (tmp_path / "s.json").write_text(json.dumps(SPEC))
    code, out, err = _cli(monkeypatch, capsys, "sweep", str(tmp_path / "s.json"), "--out",
                          str(tmp_path / "runs"))
    assert code == 130 and err == "interrupted\n" and out == ""
