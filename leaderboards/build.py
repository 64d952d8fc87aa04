"""Write the leaderboard: results/leaderboard.csv, leaderboards/leaderboard.md, leaderboards/index.html.

The page is one self-contained file (inline CSS, JS and PNG plots; no CDN), so it works from file://.
Every string that comes from a log is HTML-escaped: model names and paths are user input.
"""

from __future__ import annotations

import base64
import html
import io
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from bench.logs import log_metrics
from charbench.errors import CharbenchError
from charbench.paths import REPO_ROOT, results_dir
from leaderboards.collect import RunLogs, collect
from leaderboards.collect import build_table as _build_table

TEXT_COLUMNS = {
    "base",
    "persona",
    "method",
    "model",
    "prefs_judge",
    "classifier",
    "classifier_status",
    "classifier_methods",
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


def to_markdown(table: pd.DataFrame) -> str:
    cells = formatted(table)
    escape = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    lines += ["| " + " | ".join(escape(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def plots(runs: dict[tuple[str, str, str], RunLogs], shifts: dict) -> list[tuple[str, str]]:
    """(caption, base64 PNG). Labels inside images are our own short method names, not log strings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.revealed_prefs.report import ratings_from_log

    figures = []
    groups: dict[tuple[str, str], list[RunLogs]] = {}
    for run in runs.values():
        groups.setdefault((run.base, run.persona), []).append(run)
    for (base, persona), group in sorted(groups.items()):
        with_prefs = [r for r in group if r.prefs is not None]
        if with_prefs:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            for run in sorted(with_prefs, key=lambda r: r.method):
                ax.hist(ratings_from_log(run.prefs)["rating"], bins=20, alpha=0.5, label=run.method)
            ax.set(xlabel="Bradley-Terry rating", ylabel="traits")
            ax.legend(fontsize=7)
            fig.tight_layout()
            figures.append((f"Trait rating histograms: {base} / {persona}", _png(fig)))
        for run in sorted(group, key=lambda r: r.method):
            result = shifts.get((run.base, run.persona, run.method))
            if result is None:
                continue
            bars = pd.concat([result["gains"], result["losses"].iloc[::-1]])
            fig, ax = plt.subplots(figsize=(6, 3.2))
            ax.barh(
                range(len(bars)),
                bars["delta"],
                color=["tab:green" if d > 0 else "tab:red" for d in bars["delta"]],
                xerr=[bars["delta"] - bars["lo"], bars["hi"] - bars["delta"]],
            )
            ax.set_yticks(range(len(bars)), bars.index)
            ax.invert_yaxis()
            ax.set(xlabel="rating change vs base (95% CI)")
            fig.tight_layout()
            figures.append((f"Top trait shifts vs base: {base} / {persona} / {run.method}", _png(fig)))
        with_robust = [r for r in group if r.robustness is not None]
        if with_robust:
            fig, ax = plt.subplots(figsize=(7, 3.2))
            width = 0.8 / len(with_robust)
            for i, run in enumerate(sorted(with_robust, key=lambda r: r.method)):
                m = log_metrics(run.robustness)
                keys = sorted(k for k in m if k.startswith("adv/") and k.endswith("_accuracy"))
                ax.bar([j + i * width for j in range(len(keys))], [m[k] for k in keys], width, label=run.method)
                ax.set_xticks(
                    [j + 0.4 - width / 2 for j in range(len(keys))],
                    [k[4:-9] for k in keys],
                    rotation=35,
                    ha="right",
                    fontsize=7,
                )
            ax.set(ylabel="classifier accuracy", ylim=(0, 1))
            ax.legend(fontsize=7)
            fig.tight_layout()
            figures.append((f"Robustness per adversarial instruction: {base} / {persona}", _png(fig)))
    return figures


PAGE_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;position:sticky;top:0}
th.asc::after{content:" \\25B2"} th.desc::after{content:" \\25BC"}
td.text{text-align:left} .wrap{overflow-x:auto;max-width:100%}
figure{display:inline-block;margin:0.5rem} figcaption{font-size:12px}
"""

SORT_SCRIPT = """
document.querySelectorAll('#leaderboard th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#leaderboard tbody');
    var rows = Array.from(body.rows);
    var asc = !th.classList.contains('asc');
    document.querySelectorAll('#leaderboard th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
    th.classList.add(asc ? 'asc' : 'desc');
    var numeric = th.dataset.type === 'num';
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      if (numeric) {
        var nx = x === '' ? -Infinity : parseFloat(x), ny = y === '' ? -Infinity : parseFloat(y);
        return asc ? nx - ny : ny - nx;
      }
      return asc ? x.localeCompare(y) : y.localeCompare(x);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def to_html(table: pd.DataFrame, figures: list[tuple[str, str]], log_dir: str, n_logs: int) -> str:
    cells = formatted(table)
    head = "".join(
        f'<th data-type="{"text" if c in TEXT_COLUMNS else "num"}">{html.escape(c)}</th>' for c in cells.columns
    )
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if c in TEXT_COLUMNS else "num"}">{html.escape(v)}</td>'
            for c, v in zip(cells.columns, row)
        )
        + "</tr>"
        for row in cells.itertuples(index=False)
    )
    figs = "\n".join(
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, data in figures
    )
    built = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>charbench leaderboard</title>
<style>{PAGE_STYLE}</style></head>
<body>
<h1>charbench leaderboard</h1>
<p>Built {built} from {n_logs} Inspect logs in <code>{html.escape(log_dir)}</code>. One row per base model x
persona x method. Columns ending in <code>_lo</code>/<code>_hi</code> are 95% intervals (bootstrap or Wilson),
<code>_se</code> standard errors; judges and classifiers are named in their columns. <code>cap_*</code> columns are
multiple-choice accuracies (<code>cap_smoke_*</code>: our offline smoke set, a pipeline check, not a benchmark);
<code>cap_*_delta_vs_base</code> is the paired accuracy change against the base model's row. Click a header to sort.</p>
<div class="wrap"><table id="leaderboard"><thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody></table></div>
<h2>Plots</h2>
{figs}
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def build_leaderboard(
    log_dir: str | None = None,
    csv: str | None = None,
    markdown: str | None = None,
    html_path: str | None = None,
    force: bool = False,
) -> list[Path]:
    log_dir = log_dir or str(results_dir() / "logs")
    if not Path(log_dir).is_dir():
        raise CharbenchError(f"log directory {log_dir} does not exist: run `charbench score` or `inspect eval` first")
    runs = collect(log_dir)
    if not runs:
        raise CharbenchError(f"no successful bench logs in {log_dir}")
    table, shifts = _build_table(runs, force=force)
    n_logs = sum((r.prefs is not None) + (r.robustness is not None) + len(r.coherence) for r in runs.values())
    csv_path = Path(csv or results_dir() / "leaderboard.csv")
    md_path = Path(markdown or REPO_ROOT / "leaderboards" / "leaderboard.md")
    page = Path(html_path or REPO_ROOT / "leaderboards" / "index.html")
    for path in (csv_path, md_path, page):
        path.parent.mkdir(parents=True, exist_ok=True)
    formatted(table).to_csv(csv_path, index=False)
    md_path.write_text(f"# charbench leaderboard\n\nFrom {n_logs} logs in `{log_dir}`.\n\n" + to_markdown(table))
    page.write_text(to_html(table, plots(runs, shifts), log_dir, n_logs), encoding="utf-8")
    return [csv_path, md_path, page]
