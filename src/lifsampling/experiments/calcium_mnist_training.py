"""Training the calcium MNIST classifier: epochs, checkpoints, resumption, progress.

:func:`train_epoch` is one pass over the training images (predict-then-learn probes give the
running training accuracy); :func:`run_mnist` trains for ``epochs`` epochs with a checkpoint
after each (``--resume`` continues exactly as the uninterrupted run: every random number
derives from the seed, the epoch and the presentation counters) and tests on the test set.
The network itself is :class:`lifsampling.experiments.calcium_mnist.CalciumClassifier`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from .calcium_mnist import CalciumClassifier, MnistConfig, evaluate, load_mnist, plot_weights

__all__ = ["checkpoint_path", "epoch_order", "load_checkpoint", "mnist_tensors", "run_mnist",
           "save_checkpoint", "train_epoch"]


def mnist_tensors(data, n_train: int, n_test: int, device: torch.device):
    """The first ``n_train`` training and ``n_test`` test images and labels of ``data``
    (:func:`~.calcium_mnist.load_mnist`'s tuple) as tensors on ``device``."""
    xtr, ytr, xte, yte = data
    if n_train > len(xtr) or n_test > len(xte):
        raise ValueError(f"n_train <= {len(xtr)} and n_test <= {len(xte)} required")

    def t(a):
        return torch.as_tensor(a, device=device)

    return t(xtr[:n_train]), t(ytr[:n_train]), t(xte[:n_test]), t(yte[:n_test])


def epoch_order(cfg: MnistConfig, epoch: int, device: torch.device) -> torch.Tensor:
    """The training order of ``epoch``: a permutation seeded by (seed, epoch) alone, so that a
    resumed run draws the same orders (epoch 0 uses seed + 1)."""
    gen = torch.Generator().manual_seed(cfg.seed + 1 + 7919 * epoch)
    return torch.randperm(cfg.n_train, generator=gen).to(device)


def train_epoch(net: CalciumClassifier, x: torch.Tensor, y: torch.Tensor, epoch: int, *,
                on_batch: Callable[[int, int, int], None] | None = None,
                eval_every: int = 0, eval_set: tuple[torch.Tensor, torch.Tensor] | None = None,
                images_before: int = 0) -> dict:
    """One pass over (x, y) in :func:`epoch_order`, in mini-batches of ``cfg.batch``.

    Every ``probe_every``-th batch is first presented without teacher and plasticity for
    ``probe_ms`` and classified (predict, then learn): the running training accuracy.
    ``eval_every`` > 0 records the accuracy on ``eval_set`` every that many images as
    ``history`` [(images seen, accuracy)]. ``on_batch(images done, probes correct, probed)``
    is called after every batch (a progress bar)."""
    cfg = net.cfg
    net.set_epoch(epoch)
    order = epoch_order(cfg, epoch, net.dev)
    probed = correct = 0
    history = []
    for b, i in enumerate(range(0, cfg.n_train, cfg.batch)):
        idx = order[i:i + cfg.batch]
        teach = None
        if cfg.teacher == "winner" or (cfg.probe_every and b % cfg.probe_every == 0):
            counts = net.present(x[idx], None, learn=False, duration_ms=cfg.probe_ms)
            correct += int((net.predict(counts) == y[idx]).sum())
            probed += len(idx)
            if cfg.teacher == "winner":
                teach = net.winners(counts, y[idx])
        net.present(x[idx], y[idx], learn=True, teach=teach)
        done = i + len(idx)
        if eval_every and eval_set is not None and (
                (images_before + done) // eval_every > (images_before + i) // eval_every):
            history.append((images_before + done, evaluate(net, *eval_set)))
        if on_batch is not None:
            on_batch(done, correct, probed)
    return {"probe_accuracy": correct / probed if probed else None, "history": history}


def checkpoint_path(out_dir: str | Path | None, architecture: str) -> Path:
    """Where ``run_mnist`` keeps its per-epoch checkpoint: ``out_dir`` or
    ``<cache>/calcium/``, ``calcium_mnist_<architecture>.checkpoint.npz``."""
    from ..datasets import cache_dir

    base = Path(out_dir) if out_dir is not None else cache_dir() / "calcium"
    return base / f"calcium_mnist_{architecture}.checkpoint.npz"


def _comparable(cfg: MnistConfig) -> dict:
    """The configuration a checkpoint must share with a resumed run (all but epochs/device)."""
    d = asdict(cfg)
    for k in ("epochs", "device"):
        d.pop(k)
    return d


def save_checkpoint(path: Path, net: CalciumClassifier, epochs_done: int,
                    log: dict) -> None:
    """Atomic checkpoint after an epoch: the network's state, the epochs done and the log."""
    from ..io import write_npz

    meta = {"config": _comparable(net.cfg), "epochs_done": epochs_done, "log": log}
    write_npz(path, meta=np.array(json.dumps(meta)), **net.state_dict())


def load_checkpoint(path: Path, net: CalciumClassifier) -> tuple[int, dict]:
    """Restore ``net`` from ``path``; returns (epochs done, log). ValueError if the file is
    missing, unreadable or from a different configuration."""
    if not path.is_file():
        raise ValueError(f"no checkpoint to resume from at {path}")
    try:
        with np.load(path) as z:
            d = {k: z[k] for k in z.files}
        meta = json.loads(str(d.pop("meta")))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise ValueError(f"{path} is not a calcium MNIST checkpoint ({exc})") from None
    mine = _comparable(net.cfg)
    theirs = meta["config"]
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        raise ValueError(f"checkpoint {path} was made with a different configuration "
                         f"({', '.join(diff)}); resume with the same settings")
    net.load_state_dict(d)
    return int(meta["epochs_done"]), meta["log"]


def run_mnist(cfg: MnistConfig, data_dir: str | Path | None, out_dir: str | Path | None = None,
              progress: bool = True, eval_every: int = 0,
              figures: str | Path | None = None, resume: bool = False,
              checkpoint: str | Path | None = None) -> dict:
    """Train on the first ``n_train`` images for ``epochs`` epochs (learning rate
    lr x lr_decay^epoch), test on the first ``n_test``; returns the results.

    A checkpoint is written after every epoch (``checkpoint``, default
    :func:`checkpoint_path`); ``resume`` continues from it exactly as the uninterrupted run
    would (every random number derives from the seed, the epoch and the presentation count).
    ``eval_every`` > 0 adds the accuracy on the first 1,000 test images every that many
    training images to ``history``.
    """
    from ..engine.network import resolve_device
    from ..io import write_json, write_npz

    dev = resolve_device(cfg.device)
    xtr_t, ytr_t, xte_t, yte_t = mnist_tensors(load_mnist(data_dir), cfg.n_train, cfg.n_test,
                                               dev)
    net = CalciumClassifier(cfg, dev)
    ckpt = Path(checkpoint) if checkpoint is not None else checkpoint_path(out_dir,
                                                                           cfg.architecture)
    start, log = 0, {"history": [], "epochs": [], "train_s": 0.0, "train_cpu_s": 0.0}
    if resume:
        start, log = load_checkpoint(ckpt, net)
        if start > cfg.epochs:
            raise ValueError(f"the checkpoint has {start} epochs, more than --epochs "
                             f"{cfg.epochs}")
    eval_set = (xte_t[:1000], yte_t[:1000])
    with _progress_bar(progress, cfg.epochs * cfg.n_train, start * cfg.n_train) as tick:
        for epoch in range(start, cfg.epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            ep = train_epoch(net, xtr_t, ytr_t, epoch, eval_every=eval_every,
                             eval_set=eval_set, images_before=epoch * cfg.n_train,
                             on_batch=lambda done, ok, n, e=epoch: tick(e * cfg.n_train + done,
                                                                        ok, n))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            log["history"] += ep["history"]
            log["epochs"].append({"epoch": epoch, "probe_accuracy": ep["probe_accuracy"],
                                  "train_s": round(wall, 1), "train_cpu_s": round(cpu, 1)})
            log["train_s"] += wall
            log["train_cpu_s"] += cpu
            save_checkpoint(ckpt, net, epoch + 1, log)
    t1, c1 = time.perf_counter(), time.process_time()
    acc = evaluate(net, xte_t, yte_t)
    test_time, test_cpu = time.perf_counter() - t1, time.process_time() - c1
    w_up = (net.ff.w[0] > net.rule.p.theta_bistable).float()
    res = {
        "test_accuracy": acc, "n_test": cfg.n_test, "n_train": cfg.n_train,
        "epochs": cfg.epochs, "neurons_per_class": cfg.pool,
        "architecture": cfg.architecture, "train_time_s": round(log["train_s"], 1),
        "test_time_s": round(test_time, 1), "train_cpu_s": round(log["train_cpu_s"], 1),
        "test_cpu_s": round(test_cpu, 1), "device": str(dev), "backend": cfg.backend,
        "torch_threads": torch.get_num_threads(), "resumed_from_epoch": start if resume else None,
        "fraction_weights_up": float(w_up.mean()), "per_epoch": log["epochs"],
        "history": log["history"], "checkpoint": str(ckpt),
        "config": asdict(cfg), "rule": net.rule.describe(),
    }
    if out_dir is not None:
        out = Path(out_dir)
        write_npz(out / f"calcium_mnist_{cfg.architecture}.npz", **net.state_dict())
        write_json(out / f"calcium_mnist_{cfg.architecture}.json", res)
    if figures is not None:
        plot_weights(net.ff.w[0].cpu().numpy(), cfg.pool,
                     Path(figures) / f"calcium_mnist_weights_{cfg.architecture}.png",
                     f"BiCaLL {cfg.architecture}: fraction of UP synapses per pixel and class "
                     f"(test accuracy {acc:.3f})")
    return res


@contextmanager
def _progress_bar(show: bool, total: int, done: int):
    """A rich progress bar of training images with the running (probe) training accuracy;
    yields ``tick(images done, probes correct, probed)``."""
    if not show:
        yield lambda *a: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    cols = (TextColumn("train"), BarColumn(), TextColumn("{task.completed}/{task.total} images"),
            TextColumn("running train acc {task.fields[acc]}"), TimeRemainingColumn())
    with Progress(*cols, transient=True) as bar:
        task = bar.add_task("train", total=total, completed=done, acc="-")

        def tick(n_done: int, ok: int, n: int) -> None:
            bar.update(task, completed=n_done, acc=f"{ok / n:.3f}" if n else "-")

        yield tick
