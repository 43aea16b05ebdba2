"""The building blocks of a report page: the page itself (one title, the style, tables that
sort by a click), its tables (a column's numbers share their decimals) and its charts (drawn
by Plotly from NAME.plotly.json with the folder's one copy of plotly.js, offline; the PNG
where there is no spec or the script does not load)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.base import atomic

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "img{max-width:100%}.scroll{overflow-x:auto;max-width:100%}"
    ".table{border-collapse:collapse}.table td,.table th{padding:4px 10px;"
    "border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    ".warnings li,.messages li{color:#8a4b00}.folder{color:#666}"
    "pre{background:#f6f6f6;padding:1em;overflow:auto;white-space:pre-wrap}"
    ".chart{width:100%}.png{font-size:small;color:#666}"
    "table.sortable th{cursor:pointer}table.sortable th[aria-sort]::after{content:' ↕';"
    "color:#999}table.sortable th[aria-sort=ascending]::after{content:' ↑'}"
    "table.sortable th[aria-sort=descending]::after{content:' ↓'}"
)
PLOTLY_JS = "plotly.min.js"  # one copy per folder, beside report.html; never a CDN
# Click a column's heading to sort its table (numbers as numbers, blanks last), again to
# reverse.
SORTING = """<script>
document.querySelectorAll('table.sortable').forEach(table => {
  const heads = [...table.querySelectorAll('thead th')];
  heads.forEach((head, column) => {
    head.setAttribute('aria-sort', 'none');
    head.addEventListener('click', () => {
      const body = table.tBodies[0];
      const up = head.getAttribute('aria-sort') !== 'ascending';
      const key = row => {
        const cell = row.cells[column] ? row.cells[column].textContent.trim() : '';
        const value = Number(cell.replace(/[,%]/g, ''));
        return cell === '' || cell === '–' ? null : (Number.isNaN(value) ? cell : value);
      };
      const rows = [...body.rows].sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        const order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0)
            : (typeof x === 'number' ? -1 : 1);
        return up ? order : -order;
      });
      rows.forEach(row => body.appendChild(row));
      heads.forEach(other => other.setAttribute('aria-sort', 'none'));
      head.setAttribute('aria-sort', up ? 'ascending' : 'descending');
    });
  });
});
</script>"""


def page_title(subject: str, finished: str | None = None) -> str:
    """One clear title: what and whose, and when (``finished``, a run's ISO finish time,
    else now): 'MSFT run · 2026-12-02 05:10'."""
    import datetime as dt

    stamp = dt.datetime.fromisoformat(finished) if finished else dt.datetime.now()
    return f"{subject} · {stamp:%Y-%m-%d %H:%M}"


def write_page(folder: Path, title: str, parts: list[str]) -> Path:
    """FOLDER/report.html, written atomically."""
    path = folder / "report.html"
    atomic.write_text(path, page_html(title, folder, [part for part in parts if part]))
    return path


def page_html(title: str, folder: Path, parts: list[str]) -> str:
    heading = (
        f"<h1>{html.escape(title)}</h1><p class='folder'>folder {html.escape(str(folder.name))}</p>"
    )
    body = "".join(parts)
    script = ""
    if "Plotly.newPlot" in body:
        copy_plotly_js(folder)
        script = f"<script src='{PLOTLY_JS}' charset='utf-8'></script>"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>{script}</head>"
        f"<body>{heading}{body}{SORTING}</body></html>\n"
    )


def copy_plotly_js(folder: Path) -> None:
    """FOLDER/plotly.min.js, the one copy the folder's page loads: a hard link to the
    machine's cached copy of this Plotly version's script (4.8 MB), so a batch of many run
    folders costs no more disk than one; a copy where the cache is on another disk."""
    import os

    import plotly
    from plotly.offline import get_plotlyjs

    from forecast.base.cache import cache_dir

    master = cache_dir() / f"plotly-{plotly.__version__}.min.js"
    if not master.exists():
        master.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(master, get_plotlyjs().encode("utf-8"))
    path = folder / PLOTLY_JS
    if path.exists() and path.stat().st_size == master.stat().st_size:
        return
    linked = folder / f".{PLOTLY_JS}.{os.getpid()}"
    try:
        linked.unlink(missing_ok=True)
        os.link(master, linked)
        os.replace(linked, path)
    except OSError:  # another file system (or none that links): a copy
        linked.unlink(missing_ok=True)
        atomic.write_bytes(path, master.read_bytes())


def chart(folder: Path, name: str, caption: str) -> str:
    """The chart NAME.png as the page shows it: drawn by Plotly from NAME.plotly.json when
    the folder has one (the PNG instead where plotly.js does not load), else the PNG; ''
    when there is neither."""
    from forecast.report.interactive import spec_path

    png, spec = folder / name, spec_path(folder / name)
    if not spec.exists():
        return image(png, caption) if png.exists() else ""
    chart_id = "chart-" + Path(name).stem
    data = spec.read_text(encoding="utf-8").replace("</", "<\\/")  # stays inside <script>
    fallback = f"<img alt={json.dumps(html.escape(caption))} src={json.dumps(html.escape(name))}>"
    link = (
        f"<p class='png'>{html.escape(caption)}; as a picture: "
        f"<a href='{html.escape(name)}'>{html.escape(name)}</a></p>"
        if png.exists()
        else ""
    )
    return (
        f"<div class='chart' id='{chart_id}'></div>{link}<script>(function() {{"
        f"const spec = {data}; const box = document.getElementById('{chart_id}');"
        f"if (window.Plotly) {{ Plotly.newPlot(box, spec.data, spec.layout, "
        f"{{responsive: true, displaylogo: false}}); }}"
        f"else {{ box.innerHTML = {json.dumps(fallback)}; }}"
        f"}})();</script>"
    )


def image(path: Path, alt: str) -> str:
    """A PNG embedded in the page, so report.html opens offline on its own."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def table(frame: pd.DataFrame, escape: bool = True) -> str:
    """A table that scrolls inside its own box when it is wider than the page and sorts by
    a click on a heading; the numbers in a column share their decimals."""
    frame = frame.astype(  # nullable integers (a count some rows lack) as whole floats
        {
            column: "float64"
            for column in frame.columns
            if isinstance(frame[column].dtype, pd.api.extensions.ExtensionDtype)
            and pd.api.types.is_integer_dtype(frame[column])
        }
    )
    table = frame.to_html(
        index=False,
        formatters={
            column: column_format(frame[column])
            for column in frame.columns
            if pd.api.types.is_float_dtype(frame[column])
        },
        na_rep="–",
        border=0,
        classes="table sortable",
        escape=escape,
    )
    return f"<div class='scroll'>{table}</div>"


def column_format(values: pd.Series):
    """One format for a column of numbers: whole numbers as such; otherwise 2 to 4
    decimals, fewer as the column's largest value grows (prices 2, ratios and p-values 4),
    as the command line prints them."""
    finite = values[np.isfinite(values.to_numpy(dtype="float64"))].to_numpy(dtype="float64")
    if len(finite) and (finite == np.round(finite)).all() and np.abs(finite).max() < 1e15:
        digits = 0
    else:
        largest = float(np.abs(finite).max()) if len(finite) else 1.0
        digits = int(np.clip(4 - np.floor(np.log10(largest)) if largest > 0 else 4, 2, 4))

    def text(value: float) -> str:
        return "–" if not np.isfinite(value) else f"{value:.{digits}f}"

    return text
