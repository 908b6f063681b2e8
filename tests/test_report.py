"""``lifsampling report``: the HTML page of a real (tiny) reproduce run and a sweep holds the
results' numbers in its tables (parsed with the standard library's HTML parser, and again from
the DOM of headless Chromium where installed), embeds the run's figures byte for byte, escapes
what it shows, and refuses directories without results with one line and exit status 2."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from lifsampling.cli import main
from lifsampling.experiments.reproduce import ClaimConfig, run_claim
from lifsampling.io import write_json
from lifsampling.report import render, write_report
from lifsampling.sweep import SweepSpec, run_serial


class Page(HTMLParser):
    """Tables by class (rows of (text, data-value) cells) and <img> sources of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.images: list[str] = []
        self.scripts = 0
        self._table: list | None = None
        self._cell: list | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = ["", a.get("data-value")]
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._table[-1].append((self._cell[0], self._cell[1]))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data

    def column(self, table: str, name: str) -> list[tuple[str, str | None]]:
        head, *rows = self.tables[table]
        i = [h for h, _ in head].index(name)
        return [r[i] for r in rows]

    def value(self, table: str, name: str) -> tuple[str, str | None]:
        """The value cell of row ``name`` of a two-column name/value table."""
        for row in self.tables[table][1:]:
            if row[0][0] == name:
                return row[1]
        raise KeyError(name)


def _square(params: dict, seed: int, out: Path) -> dict:
    """A sweep task: figure = x^2 + seed / 10, and a small PNG in its directory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, params["x"]])
    fig.savefig(out / "line.png")
    plt.close(fig)
    return {"figure": params["x"] ** 2 + seed / 10}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """A real hcs run (3 seeds, tiny), the same with a GIF and a hostile title, a sweep."""
    from PIL import Image

    root = tmp_path_factory.mktemp("report")
    s = run_claim("hcs", ClaimConfig(quick=True, device="cpu", out_dir=root / "runs",
                                     seed_values=(0, 1, 2),
                                     overrides={"points": 3, "duration_ms": 300.0,
                                                "chains": 2}))
    run = Path(s["run_dir"])
    odd = root / "odd-run"
    shutil.copytree(run, odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["summary"] = "<script>alert('x')</script> & more"
    write_json(odd / "config.json", cfg)
    frames = [Image.fromarray(np.full((8, 8), 255 * k, np.uint8)) for k in (0, 1)]
    frames[0].save(odd / "dream.gif", save_all=True, append_images=frames[1:], duration=100)
    sweep = run_serial(SweepSpec(claim=None, grid={"x": [1.0, 2.0, 3.0]}, seeds=(0, 1, 2),
                                 name="squares"), root / "sweeps", function=_square)
    return {"root": root, "run": run, "odd": odd, "sweep": Path(sweep["sweep_dir"])}


def _check_numbers(page: Page, d: dict) -> None:
    res = json.loads((d["run"] / "results.json").read_text())
    summ = res["summary"]
    text, value = page.value("summary", "figure")
    assert float(value) == summ["figure"] and text == f"{summ['figure']:.6g}"
    assert float(page.value("summary", "wall_s")[1]) == summ["wall_s"]
    seeds = [float(v) for _, v in page.column("per-seed", "seed")]
    values = [float(v) for _, v in page.column("per-seed", "value")]
    assert seeds == [0, 1, 2] == [p["seed"] for p in res["per_seed"]]
    assert values == [p["value"] for p in res["per_seed"]]
    assert np.mean(values) == pytest.approx(summ["figure"], rel=1e-12)  # the claim's figure
    assert float(page.value("parameters", "points")[1]) == 3
    sw = json.loads((d["sweep"] / "sweep.json").read_text())
    means = [float(v) for _, v in page.column("points", "mean figure")]
    assert means == [p["mean"] for p in sw["points"]]
    for x, m in zip((1.0, 2.0, 3.0), means, strict=True):  # independent: x^2 + mean(seed)/10
        assert m == pytest.approx(x * x + 0.1, abs=1e-12)
    figs = [float(v) for _, v in page.column("tasks", "figure")]
    assert sorted(figs) == sorted(x * x + s / 10 for x in (1.0, 2.0, 3.0) for s in (0, 1, 2))


def test_report_tables_hold_the_results_and_the_figures_are_embedded(dirs, tmp_path):
    out = write_report([dirs["run"], dirs["sweep"]], tmp_path / "r.html")
    page = Page(out.read_text())
    _check_numbers(page, dirs)
    pngs = [base64.b64decode(s.split(",", 1)[1]) for s in page.images
            if s.startswith("data:image/png;base64,")]
    assert (dirs["run"] / "hcs_compare.png").read_bytes() in pngs  # the run's figure, exact
    task_png = (dirs["sweep"] / "tasks" / "x=1.0_seed=0" / "line.png").read_bytes()  # first
    assert task_png in pngs
    assert len(pngs) == 3  # run figure, sweep plot, first task's figure
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert not any(s.startswith(("http", "file:", "/")) for s in page.images)  # self-contained


def test_report_escapes_values_and_embeds_gifs(dirs):
    text = render([dirs["odd"]])
    page = Page(text)
    assert page.scripts == 0 and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp;" in text
    gifs = [s for s in page.images if s.startswith("data:image/gif;base64,")]
    assert [base64.b64decode(g.split(",", 1)[1]) for g in gifs] == [
        (dirs["odd"] / "dream.gif").read_bytes()]


@pytest.mark.parametrize("case, message", [
    ("missing", "run directory not found"),
    ("file", "is not a directory"),
    ("empty", "is not a run directory"),
    ("unfinished", "has no results.json (unfinished or interrupted)"),
    ("failed", "has no results.json (the run failed: RuntimeError: boom)"),
    ("sweep_unfinished", "has no sweep.json yet"),
    ("out_dir", "is a directory"),
    ("out_suffix", "give an .html file name"),
])
def test_cli_refuses_with_one_line_and_writes_nothing(dirs, tmp_path, monkeypatch, capsys,
                                                      case, message):
    d = tmp_path
    (d / "afile").write_text("x")
    for name in ("empty", "unfinished", "failed", "sweep_unfinished", "adir"):
        (d / name).mkdir()
    write_json(d / "unfinished" / "config.json", {"claim": "hcs"})
    write_json(d / "failed" / "config.json", {"claim": "hcs"})
    write_json(d / "failed" / "error.json", {"error": "RuntimeError: boom"})
    write_json(d / "sweep_unfinished" / "spec.json", {"spec": {}})
    target = {"file": "afile"}.get(case, case)
    args = [str(d / target) if case not in ("out_dir", "out_suffix") else str(dirs["run"])]
    out = {"out_dir": d / "adir", "out_suffix": d / "r.txt"}.get(case, d / "r.html")
    before = sorted(str(p) for p in d.rglob("*"))
    monkeypatch.setattr(sys, "argv", ["lifsampling", "report", *args, "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert sorted(str(p) for p in d.rglob("*")) == before


CHROMIUM = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--disable-dev-shm-usage", "--allow-file-access-from-files"]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser, once it has rendered a probe page (a stub binary, e.g. a snap wrapper
    without snapd, is skipped rather than failed)."""
    if CHROMIUM is None:
        pytest.skip("no chromium binary on PATH (.ci/run installs it with apt where apt is "
                    "available)")
    try:
        probe = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", "data:text/html,<p>probe</p>"],
                               capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"{CHROMIUM} does not run headless here ({type(exc).__name__})")
    if "<p>probe</p>" not in probe.stdout:
        pytest.skip(f"{CHROMIUM} does not run headless here (exit {probe.returncode})")
    return CHROMIUM


def test_report_in_headless_chromium(dirs, tmp_path, chromium):
    from PIL import Image

    out = write_report([dirs["run"], dirs["sweep"]], tmp_path / "r.html")
    flags = [chromium, *FLAGS]
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,1600",
                    out.as_uri()], check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (1600, 1200)
    dark = (img < 128).mean()  # text, table rules and figure lines; a blank page has none
    assert 0.005 < dark < 0.5, dark
    assert len(np.unique(img)) > 20  # anti-aliased text and plots, not one flat colour
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    _check_numbers(Page(dom), dirs)  # the tables as the browser parsed them
