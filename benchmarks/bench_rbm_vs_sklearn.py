"""Our CD-1 RBM training against scikit-learn's ``BernoulliRBM`` (PCD-1) as a peer.

Same data (binarised MNIST with the 10 one-hot label units appended: 794 visible units), same
hidden size, epochs, batch size, learning rate and thread count; both run in this process, one
after the other. Reported: training wall time per epoch and the AIS test log-likelihood of both
models evaluated by *our* AIS code (same schedule and seeds), in nats per test image with the
label units summed out, plus the label-unit test accuracy of both.

scikit-learn's model has the same energy, E(v,h) = -b_v.v - b_h.h - v.W.h
(``components_`` = Wᵀ, ``intercept_visible_`` = b_v, ``intercept_hidden_`` = b_h).

Usage (full MNIST; the README/docs give the exact command and the measured numbers):
    LIFSAMPLING_DATA=../shared/data/mnist python benchmarks/bench_rbm_vs_sklearn.py \
        --data mnist --hidden 500 --epochs 2 --out out/bench_rbm_vs_sklearn.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="builtin")
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ais-runs", type=int, default=100)
    ap.add_argument("--ais-betas", type=int, default=14500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cd", action="store_true",
                    help="train ours by CD-1 instead of PCD-1 (sklearn is always PCD-1)")
    ap.add_argument("--momentum", type=float, default=0.5)
    ap.add_argument("--out", default="out/bench_rbm_vs_sklearn.json")
    args = ap.parse_args()

    from sklearn.neural_network import BernoulliRBM
    from threadpoolctl import threadpool_limits

    from lifsampling.boltzmann import RBM
    from lifsampling.boltzmann.ais import ais_log_z, average_log_likelihood
    from lifsampling.boltzmann.train import TrainConfig, classification_accuracy, train_rbm
    from lifsampling.datasets import binarize, load_mnist, with_labels
    from lifsampling.io import write_json

    torch.set_num_threads(args.threads)
    ds = load_mnist(args.data)
    v = with_labels(binarize(ds.x_train), ds.y_train)
    xte, yte = binarize(ds.x_test), ds.y_test
    vt = torch.from_numpy(v)
    results: dict = {"data": ds.provenance.get("source"), "n_train": len(v),
                     "hidden": args.hidden, "epochs": args.epochs, "batch_size": args.batch_size,
                     "lr": args.lr, "threads": args.threads, "cpu": platform.processor() or
                     platform.machine(), "cpu_count": os.cpu_count(),
                     "load_average_start": os.getloadavg()}

    # ours: PCD-1 (as sklearn) with as many persistent chains as the batch size (as sklearn),
    # momentum 0.5, weight decay 2e-4, linear lr decay to 10 %
    cfg = TrainConfig(n_hidden=args.hidden, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, seed=args.seed, persistent=not args.cd,
                      n_persistent=args.batch_size, momentum=args.momentum)
    results["ours_config"] = cfg.__dict__
    t0, c0 = time.perf_counter(), time.process_time()
    ours, _hist = train_rbm(vt, cfg, n_labels=10, progress=False)
    wall_ours, cpu_ours = time.perf_counter() - t0, time.process_time() - c0

    # scikit-learn: PCD-1 (its only algorithm), same batch size and learning rate
    sk = BernoulliRBM(n_components=args.hidden, learning_rate=args.lr,
                      batch_size=args.batch_size, n_iter=args.epochs, random_state=args.seed)
    with threadpool_limits(limits=args.threads):
        t0, c0 = time.perf_counter(), time.process_time()
        sk.fit(v)
        wall_sk, cpu_sk = time.perf_counter() - t0, time.process_time() - c0
    theirs = RBM(torch.from_numpy(sk.components_.T.copy()).float(),
                 torch.from_numpy(sk.intercept_visible_.copy()).float(),
                 torch.from_numpy(sk.intercept_hidden_.copy()).float(), n_labels=10)

    xt = torch.from_numpy(xte).double()
    for name, model, wall, cpu in (("lifsampling", ours, wall_ours, cpu_ours),
                                   ("sklearn", theirs, wall_sk, cpu_sk)):
        ais = ais_log_z(model, n_runs=args.ais_runs, betas=args.ais_betas, v_data=vt,
                        seed=args.seed)
        r64 = model.to(dtype=torch.float64)
        results[name] = {
            "train_wall_s": wall, "train_wall_s_per_epoch": wall / args.epochs,
            "train_cpu_s_per_epoch": cpu / args.epochs,
            "test_accuracy": classification_accuracy(model, torch.from_numpy(xte),
                                                     torch.from_numpy(yte)),
            "ais": ais.as_dict(),
            "test_log_likelihood": average_log_likelihood(r64, xt, ais.log_z,
                                                          marginalize_labels=True),
        }
        print(name, json.dumps(results[name]))
    results["load_average_end"] = os.getloadavg()
    results["speedup_per_epoch"] = (results["sklearn"]["train_wall_s_per_epoch"]
                                    / results["lifsampling"]["train_wall_s_per_epoch"])
    write_json(args.out, results)
    print(f"wrote {args.out}; speed-up per epoch {results['speedup_per_epoch']:.2f}x")


if __name__ == "__main__":
    main()
