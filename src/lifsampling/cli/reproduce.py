"""``lifsampling reproduce CLAIM``: recompute one headline figure of the docs into a run
directory, and ``reproduce --list``."""

from __future__ import annotations

from pathlib import Path

import typer

from ._app import USER_LOCATION_HELP, app, fail, print_json
from ._run import default_output


def _fmt(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


@app.command("reproduce")
def reproduce(
    claim: str = typer.Argument(None, help="the claim to reproduce (see --list)"),
    list_claims: bool = typer.Option(False, "--list", help="list the claims and exit"),
    quick: bool = typer.Option(False, "--quick", help="scaled-down run on built-in data "
                               "(seconds; detects breakage, not the headline's precision)"),
    seeds: int = typer.Option(None, "--seeds", help="independent seeds (default: the claim's, "
                              ">= 10 in the full run where seeds apply)"),
    out: Path = typer.Option(None, "--out", help="directory for the run directories (default: "
                             f"runs/ in {USER_LOCATION_HELP})"),
    json_out: bool = typer.Option(False, "--json", help="print the summary (or list) as JSON"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:k"),
) -> None:
    """Recompute a headline claim; writes <out>/<claim>-<UTC time>/ with config.json,
    results.json and figures, and prints a summary."""
    from ..experiments.reproduce import ClaimConfig, check_out_dir, claims, run_claim

    registry = claims()
    if list_claims:
        if claim is not None:
            fail("give either a claim or --list, not both")
        rows = [{"name": c.name, "summary": c.summary, "reference": c.reference,
                 "unit": c.unit, "doc": c.doc} for c in registry.values()]
        if json_out:
            print_json(rows)
            return
        refs = ["-" if r["reference"] is None else f"{r['reference']:g} {r['unit']}"
                for r in rows]
        w = max([5] + [len(r["name"]) for r in rows])
        wr = max([9] + [len(x) for x in refs])
        typer.echo(f"{'claim':{w}s}  {'reference':>{wr}s}  summary  [doc]")
        for r, ref in zip(rows, refs, strict=True):
            typer.echo(f"{r['name']:{w}s}  {ref:>{wr}s}  {r['summary']}  [{r['doc']}]")
        return
    if claim is None:
        fail(f"name a claim (one of {', '.join(registry)}) or give --list")
    if claim not in registry:
        fail(f"unknown claim {claim!r}; choose one of {', '.join(registry)}")
    if seeds is not None and seeds < 1:
        fail(f"--seeds must be >= 1, got {seeds}")
    out = default_output(out, "runs")
    try:
        config = ClaimConfig(quick=quick, seeds=seeds, out_dir=out, device=device,
                             progress=not json_out)
        check_out_dir(out)
        from ..engine import resolve_device

        resolve_device(device)
    except ValueError as exc:
        fail(str(exc))
    summary = run_claim(claim, config)
    if json_out:
        print_json(summary)
        return
    ci = summary.get("ci95")
    ci_s = f" (95 % CI {ci[0]:.4g}..{ci[1]:.4g})" if ci else ""
    ref = summary["reference"]
    ref_s = "" if ref is None else f"; documented {ref:g}"
    n = len(summary["seeds"])
    seeds_s = f" over {n} seed{'s' if n > 1 else ''}" if n else ""
    typer.echo(f"{summary['claim']}: {_fmt(summary['figure'])} {summary['unit']}{ci_s}"
               f"{seeds_s}{ref_s}{' [quick]' if quick else ''}; {summary['run_dir']}")
