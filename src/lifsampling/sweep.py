"""Parameter sweeps of ``reproduce`` claims as ``dask.distributed`` tasks (``lifsampling sweep``).

A sweep runs one claim (:mod:`lifsampling.experiments.reproduce`) at every point of a grid of its
parameters, once per seed: task = (grid point, seed), run by :func:`run_claim` with
``ClaimConfig(overrides=point, seed_values=(seed,))``. The tasks go to a ``dask.distributed``
cluster: a ``LocalCluster`` of worker processes with one thread each by default, or any running
scheduler by address (the workers must then see the sweep directory, e.g. on a shared disk).

The spec is a JSON object::

    {"claim": "core-kl",                       # a name of ``lifsampling reproduce --list``
     "grid": {"duration_ms": [5000, 20000],    # parameter -> non-empty list of values
              "chains": [2, 10]},              #   (the claim's settable parameters)
     "seeds": [0, 1, 2],                       # seeds run at every point (seeded claims)
     "quick": true,                            # the claim's --quick defaults (optional)
     "device": "cpu",                          # auto, cpu, cuda, cuda:k (optional, auto)
     "name": "kl-vs-duration"}                 # names the sweep directory (optional)

The sweep directory ``<out>/<name or claim>-<12 hex digits of the spec's SHA-256>/`` holds
``spec.json``, one result file per finished task ``results/<task>.json`` (written atomically by
the task, last), each task's claim run directory under ``tasks/<task>/`` (config.json,
results.json, figures) and ``sweep.json`` (the summary: every task, and per grid point the mean
over seeds with its bootstrap 95 % interval). The same spec always maps to the same directory and
a task whose result file exists is not run again, so rerunning a sweep after a crash, a killed
worker or Ctrl-C runs only what is missing, and each task has exactly one result file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .io import read_json, write_json

SPEC_KEYS = ("claim", "grid", "seeds", "quick", "device", "name")
CONNECT_TIMEOUT_S = 5.0  # how long to wait for a scheduler given by address
MAX_TASKS = 10_000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ADDRESS_RE = re.compile(r"^([a-z]+://)?[^\s/]+:\d{1,5}$")

# a task function of the Python API: (params, seed, directory) -> {"figure": number, ...}
TaskFunction = Callable[[dict, "int | None", Path], Mapping[str, Any]]


@dataclass(frozen=True)
class Task:
    """One run of the sweep: a grid point (parameter -> value) and a seed (None: unseeded)."""

    key: str
    params: dict
    seed: int | None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring); build it with :func:`parse_spec`."""

    claim: str | None
    grid: dict[str, list] = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None
    quick: bool = False
    device: str = "auto"
    name: str | None = None

    def to_json(self) -> dict:
        return {"claim": self.claim, "grid": {k: list(v) for k, v in self.grid.items()},
                "seeds": None if self.seeds is None else list(self.seeds),
                "quick": self.quick, "device": self.device, "name": self.name}

    def digest(self, function: TaskFunction | None = None) -> str:
        """12 hex digits of the SHA-256 of the canonical spec (and the task function's name)."""
        obj = self.to_json()
        if function is not None:
            obj["function"] = f"{function.__module__}:{function.__qualname__}"
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def tasks(self) -> list[Task]:
        """Every (grid point, seed), grid in the spec's order, seeds innermost."""
        names = list(self.grid)
        seeds: list[int | None] = list(self.seeds) if self.seeds is not None else [None]
        out = []
        for values in itertools.product(*(self.grid[n] for n in names)):
            params = dict(zip(names, values, strict=True))
            for seed in seeds:
                out.append(Task(task_key(params, seed), params, seed))
        return out


def task_key(params: Mapping[str, Any], seed: int | None) -> str:
    """A file-name-safe, readable key of a task, independent of the grid's order:
    ``chains=10_duration_ms=20000_seed=0`` (with a hash where the values needed changing)."""
    parts = [f"{k}={_plain(params[k])}" for k in sorted(params)]
    if seed is not None:
        parts.append(f"seed={seed}")
    raw = "_".join(parts) or "default"
    safe = re.sub(r"[^A-Za-z0-9._=+-]+", "-", raw)
    if safe != raw or len(safe) > 80:
        full = json.dumps([dict(params), seed], sort_keys=True)
        safe = f"{safe[:70]}-{hashlib.sha256(full.encode()).hexdigest()[:8]}"
    return safe


def _plain(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")).strip('"')


# --------------------------------------------------------------------------- the spec
def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, str)) or (isinstance(v, float)
                                                            and math.isfinite(v))


def parse_spec(obj: Any, where: str = "spec") -> SweepSpec:
    """A :class:`SweepSpec` from a decoded JSON object; ValueError (one line, starting with
    ``where``) for anything malformed, an unknown claim, a parameter the claim does not take or
    a value it refuses. Nothing is run."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: must be a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in SPEC_KEYS]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(SPEC_KEYS)}")
    if "claim" not in obj:
        raise ValueError(f"{where}: needs \"claim\" (a name of lifsampling reproduce --list)")
    claim = obj["claim"]
    if not isinstance(claim, str):
        raise ValueError(f"{where}: \"claim\" must be a claim name, got {claim!r}")
    grid = obj.get("grid", {})
    if not isinstance(grid, dict):
        raise ValueError(f"{where}: \"grid\" must be an object of parameter -> list of values")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: grid[{name!r}] must be a non-empty list of values")
        for v in values:
            if not (_is_scalar(v) or (isinstance(v, list) and all(map(_is_scalar, v)))):
                raise ValueError(f"{where}: grid[{name!r}] holds {v!r}; values are numbers, "
                                 "strings, true/false or lists of them")
        canon = [json.dumps(v) for v in values]
        if len(set(canon)) != len(canon):
            raise ValueError(f"{where}: grid[{name!r}] repeats a value: {values}")
    seeds = obj.get("seeds")
    if seeds is not None:
        if not isinstance(seeds, list) or not seeds:
            raise ValueError(f"{where}: \"seeds\" must be a non-empty list of whole numbers >= 0")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int) or s < 0:
                raise ValueError(f"{where}: seed {s!r} is not a whole number >= 0")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{where}: \"seeds\" repeats a seed: {seeds}")
        seeds = tuple(seeds)
    quick = obj.get("quick", False)
    if not isinstance(quick, bool):
        raise ValueError(f"{where}: \"quick\" must be true or false, got {quick!r}")
    device = obj.get("device", "auto")
    name = obj.get("name")
    if name is not None and (not isinstance(name, str) or not _NAME_RE.match(name)):
        raise ValueError(f"{where}: \"name\" must be 1-64 letters, digits, '.', '_' or '-' "
                         f"(starting with a letter or digit), got {name!r}")
    spec = SweepSpec(claim=claim, grid=dict(grid), seeds=seeds, quick=quick, device=device,
                     name=name)
    n = len(spec.tasks())
    if n > MAX_TASKS:
        raise ValueError(f"{where}: {n} tasks; a sweep holds at most {MAX_TASKS}")
    try:
        check_claim_tasks(spec)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return spec


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a spec file (see :func:`parse_spec`)."""
    return parse_spec(read_json(path, "sweep spec"), where=f"spec {path}")


def _claim_config(spec: SweepSpec, task: Task, out_dir: Path):
    from .experiments.reproduce import ClaimConfig

    return ClaimConfig(quick=spec.quick, device=spec.device, out_dir=out_dir,
                       seed_values=None if task.seed is None else (task.seed,),
                       overrides=task.params)


def check_claim_tasks(spec: SweepSpec) -> None:
    """ValueError unless the claim exists, takes seeds iff the spec gives them, and takes every
    grid point's parameters (its parameters function is called; nothing runs)."""
    from .experiments.reproduce import check_applied, get_claim

    claim = get_claim(spec.claim)
    if claim.seeded and spec.seeds is None:
        raise ValueError(f"claim {claim.name} is seeded: give \"seeds\", e.g. [0, 1, 2]")
    if not claim.seeded and spec.seeds is not None:
        raise ValueError(f"claim {claim.name} has no seeds; leave \"seeds\" out")
    for task in spec.tasks():
        cfg = _claim_config(spec, task, Path("."))
        try:
            check_applied(claim, cfg, claim.parameters(cfg))
        except (ValueError, KeyError) as exc:
            msg = exc.args[0] if exc.args else type(exc).__name__
            point = ", ".join(f"{k}={v!r}" for k, v in task.params.items())
            raise ValueError(f"{msg} (grid point {point})" if point else msg) from None


def sweep_dir(spec: SweepSpec, out_dir: str | os.PathLike,
              function: TaskFunction | None = None) -> Path:
    """The sweep's directory: ``<out_dir>/<name or claim>-<digest>``."""
    label = spec.name or spec.claim or getattr(function, "__name__", "sweep")
    return Path(out_dir) / f"{label}-{spec.digest(function)}"


def result_path(sdir: str | os.PathLike, key: str) -> Path:
    return Path(sdir) / "results" / f"{key}.json"


# --------------------------------------------------------------------------- one task (worker)
def execute(spec: SweepSpec, task: Task, sdir: str,
            function: TaskFunction | None = None) -> dict:
    """Run one task on a worker and write its result file (atomically, last); returns the
    record. A claim task runs :func:`run_claim` into ``tasks/<key>/``."""
    t0 = time.perf_counter()
    root = Path(sdir) / "tasks" / task.key
    if function is None:
        import torch  # workers are single-threaded processes

        from .experiments.reproduce import run_claim

        torch.set_num_threads(1)
        summary = run_claim(spec.claim, _claim_config(spec, task, root))
        if task.seed is not None and summary.get("seeds") != [task.seed]:
            raise RuntimeError(f"claim {spec.claim} ran seeds {summary.get('seeds')}, "
                               f"not [{task.seed}]")
        run_dir = Path(summary["run_dir"])
    else:
        root.mkdir(parents=True, exist_ok=True)
        summary = dict(function(dict(task.params), task.seed, root))
        if "figure" not in summary:
            raise RuntimeError("the task function returned no \"figure\"")
        run_dir = root
    figure = summary["figure"]
    record = {"key": task.key, "params": task.params, "seed": task.seed,
              "figure": None if figure is None else float(figure),
              "run_dir": os.path.relpath(run_dir, sdir), "summary": summary,
              "wall_s": round(time.perf_counter() - t0, 3),
              "worker": f"{os.uname().nodename}:{os.getpid()}",
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    write_json(result_path(sdir, task.key), record)
    return record


def read_record(sdir: str | os.PathLike, key: str) -> dict | None:
    """The result record of task ``key`` (None when the task has not finished)."""
    path = result_path(sdir, key)
    if not path.is_file():
        return None
    rec = read_json(path, "task result")
    return rec if isinstance(rec, dict) and rec.get("key") == key else None


# --------------------------------------------------------------------------- the driver
def check_scheduler_address(address: str) -> str:
    """``address`` looks like ``[protocol://]host:port``; ValueError otherwise."""
    if not isinstance(address, str) or not _ADDRESS_RE.match(address.strip()):
        raise ValueError(f"--scheduler {address!r} is not a scheduler address; use "
                         "HOST:PORT or tcp://HOST:PORT")
    return address.strip()


@contextmanager
def _client(scheduler: str | None, workers: int,
            timeout_s: float) -> Iterator[tuple[Any, str]]:
    from distributed import Client, LocalCluster

    if scheduler is None:
        env = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR,
                          env=env) as cluster, Client(cluster) as client:
            yield client, f"LocalCluster, {workers} worker process{'es' * (workers > 1)} x 1 thread"
        return
    address = check_scheduler_address(scheduler)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    try:
        client = Client(address, timeout=f"{timeout_s}s")
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"no Dask scheduler answered at {address} within {timeout_s:g} s "
                         f"({type(exc).__name__})") from None
    with client:
        n = len(client.scheduler_info().get("workers", {}))
        yield client, f"scheduler {address}, {n} worker{'s' * (n != 1)}"


def run_sweep(spec: SweepSpec, out_dir: str | os.PathLike | None = None, *,
              scheduler: str | None = None, workers: int | None = None,
              progress: bool = False, function: TaskFunction | None = None,
              connect_timeout_s: float = CONNECT_TIMEOUT_S) -> dict:
    """Run the tasks of ``spec`` that have no result file yet; write and return ``sweep.json``.

    ``scheduler``: address of a running Dask scheduler (None: a ``LocalCluster`` of ``workers``
    processes, 1 thread each; default: the CPU count, at most the number of tasks to run).
    ``function``: instead of a claim, a task function ``(params, seed, directory) -> {"figure":
    ..., ...}`` (Python API; it must be importable or picklable by the workers).
    """
    from .experiments.reproduce import check_out_dir, default_runs_dir

    out_dir = default_runs_dir() if out_dir is None else out_dir
    if function is None:
        check_claim_tasks(spec)
    elif not callable(function):
        raise ValueError("function must be callable")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or not 1 <= workers <= 512):
        raise ValueError(f"--workers must be a whole number in 1..512, got {workers!r}")
    if scheduler is not None:
        check_scheduler_address(scheduler)
        if workers is not None:
            raise ValueError("--workers sets up a local cluster; a scheduler given by address "
                             "has its own workers")
    check_out_dir(Path(out_dir))
    sdir = sweep_dir(spec, out_dir, function).resolve()
    spec_file = sdir / "spec.json"
    if spec_file.exists():
        old = read_json(spec_file, "sweep spec")
        if json.dumps(old.get("spec"), sort_keys=True) != json.dumps(spec.to_json(),
                                                                     sort_keys=True):
            raise ValueError(f"{sdir} holds another sweep (its spec.json differs)")
    tasks = spec.tasks()
    records: dict[str, dict] = {}
    for t in tasks:
        rec = read_record(sdir, t.key)
        if rec is not None:
            records[t.key] = rec
    skipped = len(records)
    todo = [t for t in tasks if t.key not in records]
    failures: dict[str, str] = {}
    cluster = "none (nothing to run)"
    interrupted = False
    t0 = time.perf_counter()
    if todo:
        n_workers = workers or max(1, min(os.cpu_count() or 1, len(todo)))
        # connect first: a scheduler that does not answer leaves nothing written
        with _client(scheduler, n_workers, connect_timeout_s) as (client, cluster):
            if not spec_file.exists():
                _write_spec(spec_file, spec, function)
            try:
                _gather(client, spec, todo, sdir, function, records, failures, progress)
            except KeyboardInterrupt:
                interrupted = True
    elif not spec_file.exists():
        _write_spec(spec_file, spec, function)
    # the result files are the truth: a task can finish (its file written) on a worker that
    # dies before Dask hears of it, and is then reported failed
    for t in todo:
        if t.key not in records and (rec := read_record(sdir, t.key)) is not None:
            records[t.key] = rec
            failures.pop(t.key, None)
    summary = summarise(spec, tasks, records, failures, sdir=sdir, skipped=skipped,
                        ran=len(todo), wall_s=time.perf_counter() - t0, cluster=cluster,
                        interrupted=interrupted)
    write_json(sdir / "sweep.json", summary)
    if interrupted:
        raise KeyboardInterrupt
    return summary


def _write_spec(path: Path, spec: SweepSpec, function: TaskFunction | None) -> None:
    write_json(path, {"spec": spec.to_json(), "digest": spec.digest(function),
                      "function": None if function is None else
                      f"{function.__module__}:{function.__qualname__}"})


def _gather(client, spec: SweepSpec, todo: list[Task], sdir: Path,
            function: TaskFunction | None, records: dict, failures: dict,
            progress: bool) -> None:
    from distributed import as_completed
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    run_id = uuid.uuid4().hex[:8]
    futures = {client.submit(execute, spec, t, str(sdir), function, pure=False,
                             key=f"lifsampling-sweep-{run_id}-{t.key}"): t for t in todo}
    label = spec.name or spec.claim or "sweep"
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[failed]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        job = bar.add_task(f"sweep {label}", total=len(futures), failed="")
        try:
            for fut in as_completed(futures):
                t = futures[fut]
                if fut.status == "finished":
                    records[t.key] = fut.result()
                else:
                    exc = fut.exception()
                    failures[t.key] = f"{type(exc).__name__}: {exc}"
                bar.update(job, advance=1,
                           failed=f"{len(failures)} failed" if failures else "")
        except KeyboardInterrupt:  # queued tasks are dropped; running ones finish on their own
            client.cancel(list(futures))
            raise


def summarise(spec: SweepSpec, tasks: list[Task], records: Mapping[str, dict],
              failures: Mapping[str, str], *, sdir: Path, skipped: int, ran: int,
              wall_s: float, cluster: str, interrupted: bool = False) -> dict:
    """The ``sweep.json`` object: every task's status and figure, and per grid point the mean
    figure over its seeds with the bootstrap 95 % interval (:func:`reproduce.mean_ci95`)."""
    from .experiments.reproduce import mean_ci95

    rows = []
    for t in tasks:
        rec = records.get(t.key)
        status = "done" if rec else ("failed" if t.key in failures else "missing")
        rows.append({"key": t.key, "params": t.params, "seed": t.seed, "status": status,
                     "figure": rec["figure"] if rec else None,
                     "wall_s": rec["wall_s"] if rec else None,
                     "run_dir": rec["run_dir"] if rec else None,
                     "error": failures.get(t.key)})
    points: dict[str, dict] = {}
    for row in rows:
        pk = json.dumps(row["params"], sort_keys=True)
        p = points.setdefault(pk, {"params": row["params"], "seeds": [], "figures": []})
        if row["status"] == "done" and row["figure"] is not None:
            p["seeds"].append(row["seed"])
            p["figures"].append(row["figure"])
    for p in points.values():
        p["n"] = len(p["figures"])
        p["mean"], p["ci95"] = mean_ci95(p["figures"]) if p["figures"] else (None, None)
    unit = reference = None
    if spec.claim is not None:
        from .experiments.reproduce import claims

        c = claims().get(spec.claim)
        unit, reference = (c.unit, c.reference) if c else (None, None)
    done = sum(r["status"] == "done" for r in rows)
    return {"spec": spec.to_json(), "claim": spec.claim, "unit": unit, "reference": reference,
            "sweep_dir": str(sdir), "parameters": list(spec.grid),
            "tasks_total": len(rows), "tasks_done": done,
            "tasks_failed": sum(r["status"] == "failed" for r in rows),
            "tasks_missing": sum(r["status"] == "missing" for r in rows),
            "skipped_finished": skipped, "ran": ran, "interrupted": interrupted,
            "cluster": cluster, "wall_s": round(wall_s, 2),
            "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "tasks": rows, "points": list(points.values())}


def run_serial(spec: SweepSpec, out_dir: str | os.PathLike | None = None,
               function: TaskFunction | None = None) -> dict:
    """The same sweep without Dask: the tasks without a result file, one after another in this
    process, into the same directory and files as :func:`run_sweep` (the serial baseline of a
    sweep's speed-up, and a fallback where no cluster can start). Returns ``sweep.json``."""
    from .experiments.reproduce import check_out_dir, default_runs_dir

    out_dir = default_runs_dir() if out_dir is None else out_dir
    if function is None:
        check_claim_tasks(spec)
    check_out_dir(Path(out_dir))
    sdir = sweep_dir(spec, out_dir, function).resolve()
    if not (sdir / "spec.json").exists():
        _write_spec(sdir / "spec.json", spec, function)
    tasks = spec.tasks()
    records = {t.key: rec for t in tasks if (rec := read_record(sdir, t.key)) is not None}
    todo = [t for t in tasks if t.key not in records]
    failures: dict[str, str] = {}
    t0 = time.perf_counter()
    for t in todo:
        try:
            records[t.key] = execute(spec, t, str(sdir), function)
        except Exception as exc:  # recorded like a failed Dask task; the rest still run
            failures[t.key] = f"{type(exc).__name__}: {exc}"
    summary = summarise(spec, tasks, records, failures, sdir=sdir,
                        skipped=len(tasks) - len(todo), ran=len(todo),
                        wall_s=time.perf_counter() - t0, cluster="this process (serial)")
    write_json(sdir / "sweep.json", summary)
    return summary


__all__ = ["CONNECT_TIMEOUT_S", "SweepSpec", "Task", "check_claim_tasks",
           "check_scheduler_address", "execute", "load_spec", "parse_spec", "read_record",
           "result_path", "run_serial", "run_sweep", "summarise", "sweep_dir", "task_key"]
