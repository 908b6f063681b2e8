"""One self-contained static HTML page from run directories (``lifsampling report``).

Reads the run directories (:mod:`lifsampling.rundir`: ``config.json``, ``results.json``,
figures) that ``lifsampling reproduce`` and every experiment command given ``--run-dir`` write,
and the directories of ``lifsampling sweep`` (``spec.json``, ``sweep.json``, ``results/``,
``tasks/``), and renders, per directory: the summary, parameters and per-seed results as tables
(a command's run: its results, options, config and input files; a sweep: its
spec, one row per grid point with the mean over seeds and its 95 % interval, one row per task,
and a plot of the figure against the first grid parameter), and every PNG/GIF/JPEG in the
directory (figures, sample grids, animations) embedded as base64 — no file or network access is
needed to view the page. Every value is HTML-escaped; numeric cells carry their exact value in
``data-value``. Plain string templating (no template engine).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .io import atomic_write, read_json

IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg",
               ".jpeg": "image/jpeg"}
MAX_IMAGE_BYTES = 20 * 2**20  # larger images are listed, not embedded
MAX_CELL_CHARS = 300  # long values (lists) are cut in table cells
# summary keys shown in their own rows (the rest of the summary follows as extras)
_SUMMARY_KEYS = ("figure", "unit", "ci95", "seeds", "reference", "quick", "doc", "wall_s",
                 "run_dir")

_SWEEP_KEYS = ("claim", "unit", "reference", "tasks_total", "tasks_done", "tasks_failed",
               "tasks_missing", "skipped_finished", "ran", "cluster", "wall_s", "finished_utc")

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.3em;margin-top:2em;border-bottom:2px solid
#ccd;padding-bottom:.2em}h3{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:.92em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f8f8fc}.meta{color:#667;font-size:.9em}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figure img{max-width:100%;border:1px solid #dde}figcaption{font-size:.85em;color:#556}
.scroll{overflow-x:auto;max-width:100%}code{background:#f2f2f6;padding:0 .2em}
"""


# --------------------------------------------------------------------------- reading
def kind_of(path: str | os.PathLike) -> str:
    """``"run"`` (a run directory of reproduce or of a command's ``--run-dir``) or ``"sweep"``;
    ValueError (one line) for anything else, or a run directory without results."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"run directory not found: {p}")
    if not p.is_dir():
        raise ValueError(f"{p} is not a directory")
    if (p / "spec.json").is_file():
        if not (p / "sweep.json").is_file():
            raise ValueError(f"sweep directory {p} has no sweep.json yet (rerun the sweep to "
                             "finish it and write its summary)")
        return "sweep"
    if (p / "config.json").is_file():
        if not (p / "results.json").is_file():
            why = "unfinished or interrupted"
            if (p / "error.json").is_file():
                err = read_json(p / "error.json", "error file")
                why = f"the run failed: {err.get('error', '?') if isinstance(err, dict) else err}"
            raise ValueError(f"run directory {p} has no results.json ({why})")
        return "run"
    raise ValueError(f"{p} is not a run directory (no config.json/results.json of lifsampling "
                     "reproduce or of a command's --run-dir, no spec.json/sweep.json of "
                     "lifsampling sweep)")


def images(path: Path, depth: int = 2) -> list[Path]:
    """PNG/GIF/JPEG files in ``path`` and its subdirectories up to ``depth`` levels, sorted."""
    out: list[Path] = []
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in IMAGE_TYPES:
            out.append(p)
        elif p.is_dir() and depth > 1 and not p.name.startswith("."):
            out.extend(images(p, depth - 1))
    return out


# --------------------------------------------------------------------------- HTML pieces
def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt(x: Any) -> str:
    """A value as cell text: numbers with 6 significant digits, lists as compact JSON."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.6g}" if math.isfinite(x) else str(x)
    if isinstance(x, (list, tuple)) and x and all(
            isinstance(v, float) for v in x):  # numbers as in their own cells
        text = "[" + ", ".join(fmt(v) for v in x) + "]"
        return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"
    if isinstance(x, (list, tuple, dict)):
        text = json.dumps(x, separators=(", ", ": "), default=str)
        return text if len(text) <= MAX_CELL_CHARS else text[:MAX_CELL_CHARS - 1] + "…"
    return str(x)


def cell(x: Any, tag: str = "td") -> str:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return f'<{tag} class="num" data-value="{esc(repr(x))}">{esc(fmt(x))}</{tag}>'
    return f"<{tag}>{esc(fmt(x))}</{tag}>"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>\n" for row in rows)
    c = f' class="{esc(cls)}"' if cls else ""
    return (f'<div class="scroll"><table{c}><thead><tr>{head}</tr></thead><tbody>\n{body}'
            "</tbody></table></div>\n")


def kv_table(pairs: Mapping[str, Any], cls: str) -> str:
    return table(["name", "value"], [(k, v) for k, v in pairs.items()], cls)


def img_tag(data: bytes, mime: str, caption: str) -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="data:{mime};base64,{b64}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>\n")


def figures_html(root: Path, base: Path | None = None) -> str:
    base = base or root
    parts = []
    for p in images(root):
        rel = p.relative_to(base).as_posix()
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            parts.append(f'<p class="meta">{esc(rel)}: {size / 2**20:.1f} MiB, not embedded</p>')
            continue
        parts.append(img_tag(p.read_bytes(), IMAGE_TYPES[p.suffix.lower()], rel))
    return "".join(parts)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


# --------------------------------------------------------------------------- sections
def _value_tables(values: Mapping[str, Any], cls: str) -> list[str]:
    """A command's results: the scalars (and short lists) in one table, then one table per
    nested entry (a mapping of mappings as rows x columns, a list of mappings as rows)."""
    flat = {k: v for k, v in values.items() if not isinstance(v, (dict, list))
            or (isinstance(v, list) and all(_scalar(x) for x in v))}
    out = [kv_table(flat, cls)] if flat else []
    for key, v in values.items():
        if key in flat:
            continue
        rows: list[tuple[str, Mapping[str, Any]]] = []
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            rows = [(str(k), x) for k, x in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            rows = [(str(i), x) for i, x in enumerate(v)]
        out.append(f"<h3>{esc(key)}</h3>")
        if rows:
            cols: list[str] = []
            for _, row in rows:
                cols += [c for c in row if c not in cols]
            out.append(table(["", *cols], [[name, *(row.get(c) for c in cols)]
                                           for name, row in rows], f"{cls}-{key}"))
        elif isinstance(v, dict):
            out.append(kv_table(v, f"{cls}-{key}"))
        else:
            out.append(kv_table({key: v}, f"{cls}-{key}"))
    return out


def _close_section(out: list[str], path: Path, cfg: Mapping[str, Any],
                   meta: dict[str, Any]) -> str:
    """A run section's end: its metadata (with the versions of config.json), its figures."""
    meta.update({f"version {k}": v for k, v in cfg.get("versions", {}).items()})
    out += ["<details><summary>Run metadata</summary>", kv_table(meta, "meta"), "</details>"]
    figs = figures_html(path)
    if figs:
        out += ["<h3>Figures</h3>", figs]
    out.append("</section>")
    return "\n".join(out)


def command_section(path: Path, cfg: Mapping[str, Any], res: Mapping[str, Any]) -> str:
    """The run directory of an experiment command (``--run-dir``): results, options, the
    experiment's config, input files (SHA-256), run metadata, figures."""
    name = cfg.get("command", path.name)
    results = res.get("results")
    out = [f'<section class="run command" data-dir="{esc(path)}">',
           f"<h2>{esc(name)} <span class=\"meta\">{esc(path.name)}</span></h2>",
           "<h3>Results</h3>"]
    if isinstance(results, dict):
        out += _value_tables(results, "results")
    else:
        out.append(kv_table({"results": results}, "results"))
    if cfg.get("parameters"):
        out += ["<h3>Options</h3>", kv_table(cfg["parameters"], "parameters")]
    if isinstance(cfg.get("config"), dict) and cfg["config"]:
        out += ["<h3>Config</h3>", kv_table(cfg["config"], "config")]
    inputs = cfg.get("inputs") or {}
    if inputs:
        out += ["<h3>Input files</h3>",
                table(["option", "path", "bytes", "SHA-256"],
                      [[k, d.get("path"), d.get("bytes"), d.get("sha256")]
                       for k, d in inputs.items()], "inputs")]
    meta = {"started_utc": cfg.get("started_utc"), "wall_s": res.get("wall_s")}
    return _close_section(out, path, cfg, meta)


def run_section(path: Path) -> str:
    """A run directory: a command's (:func:`command_section`), or a reproduce run's summary,
    extras, parameters, per-seed results and figures."""
    cfg = read_json(path / "config.json", "run config")
    res = read_json(path / "results.json", "run results")
    if isinstance(cfg, dict) and "command" in cfg and isinstance(res, dict):
        return command_section(path, cfg, res)
    summary = res.get("summary", {})
    name = summary.get("claim", cfg.get("claim", path.name))
    out = [f'<section class="run" data-dir="{esc(path)}">',
           f"<h2>{esc(name)} <span class=\"meta\">{esc(path.name)}</span></h2>",
           f"<p>{esc(cfg.get('summary', ''))}</p>",
           "<h3>Summary</h3>",
           kv_table({k: summary.get(k) for k in _SUMMARY_KEYS if k in summary}, "summary")]
    extras = {k: v for k, v in summary.items() if k not in _SUMMARY_KEYS and k != "claim"}
    if extras:
        out += ["<h3>Extras</h3>", kv_table(extras, "extras")]
    params = res.get("parameters", cfg.get("parameters", {}))
    if params:
        out += ["<h3>Parameters</h3>", kv_table(params, "parameters")]
    per_seed = res.get("per_seed", [])
    if per_seed:
        cols = ["seed", "value"]
        for row in per_seed:
            cols += [k for k, v in row.items() if k not in cols and _scalar(v)]
        out += ["<h3>Per seed</h3>",
                table(cols, [[row.get(c) for c in cols] for row in per_seed], "per-seed")]
    meta = {k: cfg.get(k) for k in ("started_utc", "device", "quick", "doc") if k in cfg}
    return _close_section(out, path, cfg, meta)


def _sweep_plot(summary: Mapping[str, Any]) -> bytes | None:
    """Mean figure (and 95 % interval) against the first grid parameter, one line per value
    of the other parameters; None when that parameter is not numeric."""
    names = summary.get("parameters", [])
    points = [p for p in summary.get("points", []) if p.get("mean") is not None]
    if not names or not points:
        return None
    x0 = names[0]
    if not all(isinstance(p["params"][x0], (int, float)) and not isinstance(
            p["params"][x0], bool) for p in points):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list] = {}
    for p in points:
        label = ", ".join(f"{n}={fmt(p['params'][n])}" for n in names[1:]) or "mean"
        lines.setdefault(label, []).append(p)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for label, ps in lines.items():
        ps = sorted(ps, key=lambda p: p["params"][x0])
        xs = [p["params"][x0] for p in ps]
        ys = [p["mean"] for p in ps]
        lo = [p["mean"] - p["ci95"][0] if p.get("ci95") else 0.0 for p in ps]
        hi = [p["ci95"][1] - p["mean"] if p.get("ci95") else 0.0 for p in ps]
        ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=label)
    unit = summary.get("unit")
    ax.set_xlabel(x0)
    ax.set_ylabel(f"{summary.get('claim') or 'figure'}{f' [{unit}]' if unit else ''}")
    ax.set_title("mean over seeds, bootstrap 95 % interval")
    if len(lines) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def sweep_section(path: Path) -> str:
    """A sweep directory: spec, grid points (mean, 95 % interval), tasks, plot, the figures of
    the first finished task."""
    s = read_json(path / "sweep.json", "sweep summary")
    names = list(s.get("parameters", []))
    label = s.get("spec", {}).get("name") or s.get("claim") or path.name
    out = [f'<section class="sweep" data-dir="{esc(path)}">',
           f"<h2>sweep {esc(label)} <span class=\"meta\">{esc(path.name)}</span></h2>",
           "<h3>Spec</h3>", kv_table(s.get("spec", {}), "spec"),
           "<h3>Run</h3>",
           kv_table({k: s.get(k) for k in _SWEEP_KEYS}, "sweep-meta")]
    out += ["<h3>Grid points</h3>",
            table([*names, "seeds", "mean figure", "95 % CI low", "95 % CI high", "per seed"],
                  [[*(p["params"].get(n) for n in names), p.get("n"), p.get("mean"),
                    *(p["ci95"] if p.get("ci95") else (None, None)), p.get("figures")]
                   for p in s.get("points", [])], "points")]
    png = _sweep_plot(s)
    if png is not None:
        out.append(img_tag(png, "image/png", f"figure vs {names[0]}"))
    out += ["<h3>Tasks</h3>",
            table(["task", *names, "seed", "status", "figure", "wall s", "error"],
                  [[t["key"], *(t["params"].get(n) for n in names), t.get("seed"),
                    t.get("status"), t.get("figure"), t.get("wall_s"), t.get("error")]
                   for t in s.get("tasks", [])], "tasks")]
    first = next((t for t in s.get("tasks", []) if t.get("status") == "done"
                  and t.get("run_dir")), None)
    if first is not None and (path / first["run_dir"]).is_dir():
        figs = figures_html(path / first["run_dir"], base=path)
        if figs:
            out += [f"<h3>Figures of task {esc(first['key'])}</h3>", figs]
    out.append("</section>")
    return "\n".join(out)


# --------------------------------------------------------------------------- the page
def render(dirs: Sequence[str | os.PathLike], title: str = "lifsampling report") -> str:
    """The HTML page of ``dirs`` (each checked by :func:`kind_of` first)."""
    paths = [Path(d) for d in dirs]
    if not paths:
        raise ValueError("give at least one run directory")
    kinds = [kind_of(p) for p in paths]
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    body = [run_section(p) if k == "run" else sweep_section(p)
            for p, k in zip(paths, kinds, strict=True)]
    toc = "".join(f"<li>{esc(k)}: <code>{esc(p)}</code></li>"
                  for p, k in zip(paths, kinds, strict=True))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{esc(title)}</h1><p class=\"meta\">generated {esc(stamp)} from "
            f"{len(paths)} director{'y' if len(paths) == 1 else 'ies'}</p><ul>{toc}</ul>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(dirs: Sequence[str | os.PathLike], out: str | os.PathLike,
                 title: str = "lifsampling report") -> Path:
    """Render ``dirs`` and write the page to ``out`` atomically."""
    page = render(dirs, title)
    return atomic_write(out, lambda p: p.write_text(page, encoding="utf-8"))


__all__ = ["kind_of", "render", "write_report"]
