"""Every kind of report page opened in a real browser (headless Chromium): one clear title,
every chart drawn by the folder's own plotly.js (with data; a hover and a zoom leave it drawn
and change its range), every image loads, tables sort by a click, nothing overflows a
1280-pixel window (wide tables scroll in their own box), no console error, no request off
the disk, a hostile ticker shown as text; a screenshot of each is kept in the test's folder.

Locally the test skips, saying why, when Chromium is not installed; under CI it fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import forecast as api
from tests.conftest import QUICK, synthetic_prices

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
]
# Injected first in <head>: record errors and console.error calls; after load, write what the
# test checks into the page.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
const __consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(' ')); __consoleError(...args); };
window.addEventListener('load', async () => {
  const charts = [...document.querySelectorAll('.chart')];
  const drawn = charts.filter(chart => chart.data && chart.data.length > 0
      && chart.querySelector('svg.main-svg'));
  let zoomed = 0;
  for (const chart of drawn) {
    try {
      Plotly.Fx.hover(chart, [{curveNumber: 0, pointNumber: 0}]);
      const axis = chart._fullLayout.xaxis;
      const [low, high] = axis.range.map(value => axis.r2l(value));
      const wanted = [low, low + (high - low) / 2];
      await Plotly.relayout(chart, {'xaxis.range': wanted.map(value => axis.l2r(value))});
      const now = chart._fullLayout.xaxis.range.map(value => axis.r2l(value));
      const traces = chart.querySelectorAll('.trace').length;
      if (Math.abs(now[1] - wanted[1]) < 1e-6 * Math.max(1, Math.abs(wanted[1])) && traces > 0)
        zoomed += 1;
    } catch (error) { window.__errors.push('zoom: ' + error); }
  }
  let sorted = null;
  const table = [...document.querySelectorAll('table.sortable')]
      .find(found => found.tBodies[0].rows.length > 2);
  if (table) {
    const head = table.querySelectorAll('thead th')[1];
    head.click();
    const cells = [...table.tBodies[0].rows].map(row => row.cells[1].textContent.trim())
        .filter(cell => cell !== '–' && !Number.isNaN(Number(cell))).map(Number);
    sorted = head.getAttribute('aria-sort') === 'ascending'
        && cells.every((value, index) => index === 0 || cells[index - 1] <= value);
  }
  const width = window.innerWidth;
  const outside = [...document.querySelectorAll('body *')].filter(element =>
      !element.closest('.scroll') && !element.parentElement.closest('.chart')
      && element.getBoundingClientRect().right > width + 1);  // a chart's own box counts
  const report = {width, page: document.documentElement.scrollWidth,
    title: document.title, headings: document.querySelectorAll('h1').length,
    images: [...document.images].map(
      image => [image.alt, image.complete && image.naturalWidth > 0]),
    outside: outside.slice(0, 5).map(element => element.tagName + '.' + element.className),
    charts: charts.length, drawn: drawn.length, zoomed, sorted,
    requests: performance.getEntriesByType('resource').map(entry => entry.name)
        .filter(name => !name.startsWith('file:')),
    errors: window.__errors};
  const out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>"""


def open_in_chromium(page: Path, screenshot: Path) -> dict:
    """Load a page (with the probe) and take a screenshot of it (without)."""
    probed = page.with_name(f".probed-{page.name}")
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    profile = page.parent / ".chromium-profile"
    result = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    probed.unlink()
    found = re.search(r'<pre id="__probe">(.*?)</pre>', result.stdout, re.S)
    assert found, result.stderr[-2000:]
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={screenshot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    return json.loads(
        found.group(1)
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
    )


# A ticker is input too: markup that would report itself if the page ran it, and a $ that
# matplotlib would read as mathtext.
HOSTILE = "SYN<img src=x onerror=\"console.error('injected')\">$x"


@pytest.fixture(scope="module")
def pages(trained, first_batch, first_sweep, tmp_path_factory) -> dict[str, Path]:
    """One page of each kind: a run with a forecast and a live record, a backtest, a model
    comparison, a batch and a sweep."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("Chromium is not installed: apt-get install chromium to run this test")
    from forecast.commands.score import score

    folder = tmp_path_factory.mktemp("pages")
    run = folder / "run"
    shutil.copytree(trained.folder, run)
    api.forecast(run, steps=5)
    score(run, bars=trained.forecaster.dataset().prices.to_frame("price"))
    csv = folder / "prices.csv"
    prices = synthetic_prices(220, seed=2)
    prices.rename_axis("Date").rename("Close").to_csv(csv)
    source = ["data.source=csv", f"data.path={csv}", "data.start=null", f"data.ticker={HOSTILE}"]
    config = api.load_config(
        QUICK,
        [
            "data.lookback=10",
            "train.epochs=1",
            "model.layers.0.units=4",
            "model.layers.2.units=4",
            "evaluation.baselines=[theta]",  # one statistical baseline on the pages, quickly
            f"output.runs_dir={folder}",
            *source,
        ],
    )
    backtest = api.backtest(config, folds=2, out=folder / "backtest", echo=lambda line: None).folder
    compare = api.compare(
        config, ("lstm", "gru"), folds=1, out=folder / "compare", echo=lambda line: None
    ).folder
    return {
        "run": run / "report.html",
        "backtest": backtest / "report.html",
        "compare": compare / "report.html",
        "batch": first_batch.folder / "report.html",
        "sweep": first_sweep.folder / "report.html",
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "backtest", "compare", "batch", "sweep"])
def test_a_report_page_reads_well_in_a_browser(pages, kind, tmp_path):
    report = open_in_chromium(pages[kind], tmp_path / f"{kind}.png")
    assert report["width"] == 1280
    assert report["headings"] == 1 and " · 20" in report["title"], report["title"]
    subject = report["title"].split(" · ")[0].lower()  # the words, not the date: 06 06 at 6:06
    assert not re.search(r"\b(\w+) \1\b", subject), report["title"]  # "run run"
    assert all(loaded for _, loaded in report["images"]), report["images"]
    assert report["charts"] >= 1 and report["drawn"] == report["charts"], report
    assert report["zoomed"] == report["drawn"], report
    assert report["requests"] == []
    assert (pages[kind].parent / "plotly.min.js").exists()  # one copy, beside the page
    assert "<script src='http" not in pages[kind].read_text()  # never a CDN
    if report["sorted"] is not None:
        assert report["sorted"], report
    assert report["page"] <= report["width"], report["outside"]  # no sideways scroll
    assert report["outside"] == []
    assert report["errors"] == []
    assert (tmp_path / f"{kind}.png").read_bytes()[:4] == b"\x89PNG"
    if kind in ("backtest", "compare"):  # the hostile ticker is shown as text
        assert "SYN&lt;img src=x onerror=" in pages[kind].read_text()
    if kind == "run":
        text = pages[kind].read_text()
        assert "Live record" in text and "Forecast" in text
        # one heading each, its table and chart under it: true vs predicted, loss,
        # forecast, live record
        assert text.count("<h2>Forecast</h2>") == 1 and text.count("<h2>Live record</h2>") == 1
        assert report["charts"] == 4, report
