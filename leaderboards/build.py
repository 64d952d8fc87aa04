"""Write the leaderboard: results/leaderboard.csv, leaderboards/leaderboard.md (+ its figures in
leaderboards/figures/), leaderboards/index.html.

Both documents open with the headline (`headline.py`: one table per base model, at most 10 columns),
then its legend and one figure per question, then every detail column in one table per task. The
CSV holds the detail columns only, unchanged in meaning. The page is one self-contained file (inline
CSS, JS and PNG plots; no CDN), so it works from file://; every string that comes from a log is
HTML-escaped (model names and paths are user input). No output names a path of the machine that built
it: names are made relative in `collect`, the log directory here.
"""

from __future__ import annotations

import base64
import html
import math
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from charbench.errors import CharbenchError
from charbench.paths import REPO_ROOT, results_dir, shown
from leaderboards import headline as hl
from leaderboards.collect import build_table as _build_table
from leaderboards.collect import collect
from leaderboards.figures import detail_figures, question_figures

IDENTITY = ["base", "persona", "method", "kind", "model"]
# detail tables, one per task, by column prefix; a column no prefix claims goes to "other"
DETAIL_GROUPS = (
    ("revealed preferences", ("prefs_",)),
    ("robustness", ("robust_", "classifier")),
    ("coherence", ("coh_",)),
    ("capabilities", ("cap_",)),
    ("drift", ("drift_",)),
    ("steering", ("steer_",)),
)

TEXT_COLUMNS = {
    "base",
    "persona",
    "method",
    "kind",
    "model",
    "prefs_judge",
    "classifier",
    "classifier_status",
    "classifier_methods",
    "classifier_held_out",
    "classifier_models_recorded",
    "steer_coef_chosen_by",
    "prefs_vs_base",
    "prefs_judge_status",
    "coh_judge",
}


def format_cell(value: object) -> str:
    """The one formatting of a value, shared by the CSV, the Markdown and the page."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 2 else f"{value:.3f}"
    return str(value)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    return table.apply(lambda col: col.map(format_cell)).fillna("")


def detail_tables(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(task, identity columns + that task's columns) for each task with any column; nothing is dropped."""
    claimed = set(IDENTITY)
    out = []
    for name, prefixes in DETAIL_GROUPS:
        columns = [c for c in table.columns if c not in claimed and c.startswith(prefixes)]
        claimed |= set(columns)
        if columns:
            out.append((name, table[[c for c in IDENTITY if c in table] + columns]))
    rest = [c for c in table.columns if c not in claimed]
    if rest:
        out.append(("other", table[[c for c in IDENTITY if c in table] + rest]))
    return out


def to_markdown(table: pd.DataFrame) -> str:
    cells = formatted(table)
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1rem 1.25rem;color:#222;max-width:1240px}
h1{font-size:1.4rem;margin:0 0 .3rem} h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
p.source{margin:.2rem 0 .6rem;font-size:13px}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;position:sticky;top:0}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td.text,th[data-type=text]{text-align:left} .wrap{overflow-x:auto;max-width:100%}
table.headline{width:100%;font-size:13px} table.headline th,table.headline td{white-space:normal}
table.headline td .ci{display:block;font-size:11px;color:#666}
table.headline td.best{background:#e6f4ea;font-weight:600}
table.headline td.trust{text-align:left;font-size:11px;max-width:15rem}
dl.legend{font-size:12px;display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:.5rem 0}
dl.legend dt{font-weight:600} dl.legend dd{margin:0}
figure{display:inline-block;margin:0.5rem;vertical-align:top} figcaption{font-size:12px;max-width:36rem}
details{margin-top:1rem} summary{cursor:pointer;font-weight:600}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.querySelectorAll('thead th');
  heads.forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.querySelector('tbody');
      var rows = Array.from(body.rows);
      var asc = !th.classList.contains('asc');
      heads.forEach(function (h) { h.classList.remove('asc', 'desc'); });
      th.classList.add(asc ? 'asc' : 'desc');
      var numeric = th.dataset.type === 'num';
      var key = function (cell) { return cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent; };
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (numeric) {
          var nx = x === '' ? -Infinity : parseFloat(x), ny = y === '' ? -Infinity : parseFloat(y);
          return asc ? nx - ny : ny - nx;
        }
        return asc ? x.localeCompare(y) : y.localeCompare(x);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _detail_html(table: pd.DataFrame, table_id: str) -> str:
    cells = formatted(table)
    kind = lambda c: "text" if c in TEXT_COLUMNS else "num"  # noqa: E731
    head = "".join(f'<th data-type="{kind(c)}">{html.escape(c)}</th>' for c in cells.columns)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="{kind(c)}">{html.escape(v)}</td>' for c, v in zip(cells.columns, row)) + "</tr>"
        for row in cells.itertuples(index=False)
    )
    return (
        f'<div class="wrap"><table id="{table_id}" class="sortable detail"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _headline_html(headline: hl.Headline, index: int) -> str:
    numeric = set(headline.columns[len(hl.IDENTITY) : -1])
    head = "".join(
        f'<th data-type="{"num" if c in numeric else "text"}">{html.escape(c)}</th>' for c in headline.columns
    )
    rows = []
    for row in headline.rows:
        tds = []
        for column, cell in zip(headline.columns, row):
            if column in numeric and cell.value is not None:
                mark = f" {hl.BEST_MARK}" if cell.best else ""
                tds.append(
                    f'<td class="num{" best" if cell.best else ""}" data-value="{cell.value!r}">'
                    f"{html.escape(cell.text.split(' ', 1)[0])}{mark}"
                    f'<span class="ci">{html.escape(cell.note)}</span></td>'
                )
            elif column in numeric:
                tds.append(f'<td class="num" data-value="">{html.escape(cell.text)}</td>')
            else:
                tds.append(f'<td class="{"trust" if column == hl.TRUST else "text"}">{html.escape(cell.text)}</td>')
        rows.append("<tr>" + "".join(tds) + "</tr>")
    body = "\n".join(rows)
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in headline.verdicts)
    return (
        f"<h2>Base model: {html.escape(headline.base)}</h2>\n"
        f'<table id="headline-{index}" class="sortable headline"><thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table>"
        + (f'\n<p>Did the persona take?</p><ul class="verdicts">{verdicts}</ul>' if verdicts else "")
    )


def _figures_html(figures: list[tuple[str, str]]) -> str:
    return "\n".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, data in figures
    )


def to_html(
    table: pd.DataFrame,
    figures: list[tuple[str, str]],
    log_dir: str,
    n_logs: int,
    details_figures: list[tuple[str, str]] | None = None,
) -> str:
    headlines = "\n".join(_headline_html(h, i) for i, h in enumerate(hl.headlines(table)))
    legend = "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>" for term, text in hl.legend())
    details = "\n".join(
        f"<h3>{html.escape(name)}</h3>\n{_detail_html(part, f'detail-{i}')}"
        for i, (name, part) in enumerate(detail_tables(table))
    )
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>charbench leaderboard</title>
<style>{PAGE_STYLE}</style></head>
<body>
<h1>charbench leaderboard</h1>
<p class="source">From {n_logs} Inspect logs in <code>{html.escape(log_dir)}</code>, built {built}. Each number is
value [95% interval]; click a header to sort; what each column means is below the table.</p>
{headlines}
<dl class="legend">{legend}</dl>
<h2>One figure per question</h2>
{_figures_html(figures)}
<details><summary>Details: every column, one table per task (the CSV holds the same), and the rating
figures</summary>
<p>Columns ending in <code>_lo</code>/<code>_hi</code> are 95% intervals (bootstrap or Wilson), <code>_se</code>
standard errors; judges and classifiers are named in their columns. <code>cap_*</code> columns are multiple-choice
accuracies (<code>cap_smoke_*</code>: our offline smoke set, a pipeline check, not a benchmark);
<code>cap_*_delta_vs_base</code> is the paired accuracy change against the base model's row.</p>
{details}
{_figures_html(details_figures or [])}
</details>
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def _figure_name(caption: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", caption.lower()).strip("-")[:90] + ".png"


def to_markdown_page(
    table: pd.DataFrame, figures: list[tuple[str, str]], figure_dir: str, log_dir: str, n_logs: int
) -> str:
    parts = [f"# charbench leaderboard\n\nFrom {n_logs} logs in `{log_dir}`. Each number is value [95% interval].\n"]
    for headline in hl.headlines(table):
        parts.append(f"## Base model: {headline.base}\n\n{hl.to_markdown(headline)}")
    parts.append("\n".join(f"- **{term}**: {text}" for term, text in hl.legend()) + "\n")
    parts.append("## One figure per question\n")
    parts += [f"![{caption}]({figure_dir}/{_figure_name(caption)})\n" for caption, _ in figures]
    parts.append("## Details\n")
    parts += [f"### {name}\n\n{to_markdown(part)}" for name, part in detail_tables(table)]
    return "\n".join(parts)


def build_leaderboard(
    log_dir: str | None = None,
    csv: str | None = None,
    markdown: str | None = None,
    html_path: str | None = None,
    force: bool = False,
) -> list[Path]:
    log_dir = log_dir or str(results_dir() / "logs")
    if not Path(log_dir).is_dir():
        raise CharbenchError(
            f"log directory {log_dir} does not exist: name an experiment directory (charbench run writes "
            "results/<experiment>) or a directory of Inspect logs"
        )
    runs = collect(log_dir)
    if not runs:
        raise CharbenchError(f"no successful bench logs in {log_dir}")
    if (Path(log_dir) / "spec.yaml").is_file():  # an experiment: its leaderboard lives beside its logs
        root = Path(log_dir)
        csv, markdown, html_path = (
            csv or root / "leaderboard.csv",
            markdown or root / "leaderboard.md",
            html_path or root / "index.html",
        )
        log_dir = str(root / "logs")
    table, shifts = _build_table(runs, force=force)
    # distinct logs: a base row's shared tournament serves every persona's table
    n_logs = len({log.location for r in runs.values() for log in r.logs()})
    csv_path = Path(csv or results_dir() / "leaderboard.csv")
    md_path = Path(markdown or REPO_ROOT / "leaderboards" / "leaderboard.md")
    page = Path(html_path or REPO_ROOT / "leaderboards" / "index.html")
    figure_dir = md_path.parent / "figures"
    for path in (csv_path, md_path, page, figure_dir / "x"):
        path.parent.mkdir(parents=True, exist_ok=True)
    source = shown(str(Path(log_dir).resolve()))
    formatted(table).to_csv(csv_path, index=False)
    questions = question_figures(table, runs)
    for old in figure_dir.glob("*.png"):  # figures of rows that are gone must not linger
        old.unlink()
    for caption, data in questions:
        (figure_dir / _figure_name(caption)).write_bytes(base64.b64decode(data))
    md_path.write_text(to_markdown_page(table, questions, figure_dir.name, source, n_logs), encoding="utf-8")
    page.write_text(to_html(table, questions, source, n_logs, detail_figures(runs, shifts)), encoding="utf-8")
    return [csv_path, md_path, page, figure_dir]
