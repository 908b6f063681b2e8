"""``lifsampling demo``: the main demo on built-in defaults."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ._app import USER_LOCATION_HELP, output_dir, print_json
from ._run import begin, default_output, experiment, record


@experiment("demo")
def demo(
    out: Path = typer.Option(None, help="folder for figures and results (default: demo/ "
                             f"in {USER_LOCATION_HELP})", callback=output_dir),
    seed: int = typer.Option(0),
    device: str = typer.Option("auto", help="auto, cpu or cuda"),
    json_out: bool = typer.Option(False, "--json", help="print the numbers as JSON"),
) -> None:
    """Run the demo on built-in data (no download) and write its figures to OUT (default: the
    user cache's demo/ folder, printed)."""
    from ..engine import resolve_device
    from ..experiments.demo import run_demo
    from ..io import write_json

    resolve_device(device)
    out = default_output(out, "demo")
    begin()
    t0 = time.perf_counter()
    result = run_demo(out, seed=seed, device=device)
    result["wall_s"] = time.perf_counter() - t0
    write_json(out / "demo.json", result)
    record(result)
    if json_out:
        print_json(result)
        return
    _print_table(result, out)


def _print_table(result: dict, out: Path) -> None:
    """The headline numbers as a short table, where the figures are, what to run next."""
    from rich.console import Console
    from rich.table import Table

    bm, stp = result["small_bm"], result["stp_mnist"]
    t = Table(title="lifsampling demo (built-in data)")
    t.add_column("what")
    t.add_column("spiking", justify="right")
    t.add_column("Gibbs", justify="right")
    t.add_row("5-unit BM: D_KL(p || p_sampled)", f"{bm['kl_lif']:.4f}", f"{bm['kl_gibbs']:.4f}")
    m = stp["mixing"]
    for key, label in (("mode_switches_per_1000", "MNIST RBM: mode switches / 1000"),
                       ("precision", "MNIST RBM: k-NN precision"),
                       ("recall", "MNIST RBM: k-NN recall"),
                       ("fd", "MNIST RBM: Fréchet distance"),
                       ("mean_pixel", "MNIST RBM: mean pixel")):
        t.add_row(label, f"{m['stp'][key]:.3g}", f"{m['gibbs'][key]:.3g}")
    c = Console()
    c.print(t)
    loop = result.get("in_loop")
    if loop:
        t2 = Table(title="LIF + STP: the RBM as trained → fine-tuned in the loop of its STP "
                         f"network ({loop['training']['updates']} updates, "
                         f"{loop['training']['wall_s']:.0f} s)")
        for col in ("what", "as trained", "fine-tuned"):
            t2.add_column(col, justify="right" if col != "what" else "left")
        after = loop["mixing"]["stp"]
        for key, label in (("mode_switches_per_1000", "mode switches / 1000"),
                           ("precision", "k-NN precision"), ("recall", "k-NN recall"),
                           ("fd", "Fréchet distance"), ("isl", "validated ISL (nats)"),
                           ("mean_pixel", "mean pixel")):
            t2.add_row(label, f"{m['stp'][key]:.3g}", f"{after[key]:.3g}")
        t2.add_row("RBM test accuracy", f"{loop['test_accuracy_before']:.1%}",
                   f"{loop['test_accuracy_after']:.1%}")
        c.print(t2)
    c.print(f"spiking = LIF sampling (BM) and LIF + short-term plasticity (RBM), one seed; "
            f"{result['wall_s']:.0f} s. Figures and demo.json in {out}/ "
            f"(stp_mnist/stp_samples.png, stp_dream.gif, in_loop/).")
    c.print("next: lifsampling reproduce --list · lifsampling stp-mixing MODEL --seeds 10 · "
            "lifsampling generative-quality SAMPLES.npz")
