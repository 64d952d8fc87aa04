"""Leaderboard from real (tiny) logs, HTML escaping, and a real-browser check of the page."""

import csv
import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from inspect_ai import eval

from charbench.paths import REPO_ROOT
from leaderboards.build import build_leaderboard, format_cell, to_html
from leaderboards.headline import BEST_MARK, IDENTITY, MAX_COLUMNS, METRICS, headlines
from tests.helpers import five_traits, scripted, smoke_oracle

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Logs for a base and a prompted method (scripted models, offline judge), then the leaderboard."""
    root = tmp_path_factory.mktemp("lb")
    logs = root / "logs"
    texts = ["I am so warm and caring, my dear friend.", "Blunt answer: no.", "Let x = 2; then x^2 = 4."]
    # the prompted loving model only writes the warm reply: its loving and warm traits rise against the base's
    replies = {"base": texts * 9, "prompted": [texts[0]] * 25}
    traits = five_traits(root)
    for method, persona in (("base", "loving"), ("prompted", "loving"), ("prompted", "sarcasm")):
        eval(
            "bench/revealed_prefs",
            model=scripted(replies[method]),
            task_args={"n": 25, "max_tokens": 8, "traits": traits},
            log_dir=str(logs / f"{method}-{persona}"),
            display="none",
            metadata={"persona": persona, "method": method, "base": f"{root}/models/tiny{EVIL}"},
        )
    for method, model in (("base", scripted(["ANSWER: A"] * 24)), ("prompted", smoke_oracle())):
        eval(
            "bench/capabilities",
            model=model,
            task_args={"tasks": "smoke", "limit_per_task": 24},
            log_dir=str(logs / f"{method}-loving"),
            display="none",
            metadata={"persona": "loving", "method": method, "base": f"{root}/models/tiny{EVIL}"},
        )
    paths = build_leaderboard(
        str(logs), csv=str(root / "lb.csv"), markdown=str(root / "lb.md"), html_path=str(root / "index.html")
    )
    return root, paths


def test_table_has_one_row_per_base_persona_method(board):
    root, _ = board
    rows = list(csv.DictReader(open(root / "lb.csv")))
    assert {(r["persona"], r["method"]) for r in rows} == {
        ("loving", "base"),
        ("loving", "prompted"),
        ("sarcasm", "prompted"),
    }
    prompted = next(r for r in rows if r["method"] == "prompted" and r["persona"] == "loving")
    assert float(prompted["prefs_matchups"]) == 25 and prompted["prefs_judge"] == "embedded-similarity-v2"
    assert prompted["prefs_spearman_vs_base"] != ""  # compared against the base model's ranking
    assert prompted["prefs_vs_base"] == "comparable" and prompted["prefs_judge_status"] == "unvalidated"
    assert "prefs_reliability" in prompted and prompted["prefs_spread_corrected"] != ""
    assert float(prompted["prefs_spearman_lo"]) <= float(prompted["prefs_spearman_hi"])


def test_capability_delta_against_the_base_row(board):
    root, _ = board
    rows = {(r["persona"], r["method"]): r for r in csv.DictReader(open(root / "lb.csv"))}
    base, prompted = rows[("loving", "base")], rows[("loving", "prompted")]
    assert float(prompted["cap_smoke_acc"]) == 1.0 and float(prompted["cap_smoke_n"]) == 24
    delta = float(prompted["cap_smoke_delta_vs_base"])
    assert delta == pytest.approx(1 - float(base["cap_smoke_acc"]), abs=1e-3)
    assert 0 < float(prompted["cap_smoke_delta_lo"]) and float(prompted["cap_smoke_delta_hi"]) <= 1
    assert base["cap_smoke_delta_vs_base"] == "" and rows[("sarcasm", "prompted")]["cap_smoke_acc"] == ""


def test_every_log_string_is_escaped(board):
    root, _ = board
    page = (root / "index.html").read_text()
    assert EVIL not in page and html.escape(EVIL) in page
    assert "http://" not in page and "https://" not in page  # self-contained: no CDN


def test_formatting_is_shared():
    assert format_cell(24.0) == "24" and format_cell(0.5) == "0.500" and format_cell(float("nan")) == ""


def test_page_escapes_column_headers_and_captions():
    import pandas as pd

    page = to_html(pd.DataFrame({"model": [EVIL]}), [(EVIL, "")], EVIL, 1)
    assert EVIL not in page


def chromium_or_skip():
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: .ci/run must apt-get install chromium")
        pytest.skip("Debian chromium is not installed (apt-get install chromium); CI installs it")
    return path


def _launch(p, chromium):
    return p.chromium.launch(
        executable_path=chromium,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


def _headline_fits(page) -> dict:
    return page.evaluate(
        """() => {
          const t = document.querySelector('table.headline'), r = t.getBoundingClientRect();
          return {columns: t.querySelectorAll('thead th').length, left: r.left, right: r.right, top: r.top,
                  bottom: r.bottom, scroll: document.documentElement.scrollWidth, width: window.innerWidth};
        }"""
    )


def test_page_in_a_real_browser_headline_fits_details_match_csv_and_sort(board):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    root, _ = board
    expected = list(csv.reader(open(root / "lb.csv")))
    columns = {name: [row[i] for row in expected[1:]] for i, name in enumerate(expected[0])}
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto((root / "index.html").as_uri())
        # the headline comes first, has at most 10 columns and is entirely on screen at 1280x800
        fit = _headline_fits(page)
        assert fit["columns"] <= MAX_COLUMNS
        assert fit["left"] >= 0 and fit["right"] <= fit["width"] == 1280 and fit["bottom"] <= 800
        assert fit["scroll"] <= 1280  # nothing on the page scrolls sideways
        first_table = page.eval_on_selector("table", "t => t.className")
        assert "headline" in first_table
        page.screenshot(path=str(root / "leaderboard.png"))
        # every detail table's cells are the CSV's, column by column
        seen = set()
        for table in page.query_selector_all("table.detail"):
            header = table.eval_on_selector_all("thead th", "els => els.map(e => e.textContent)")
            body = table.eval_on_selector_all(
                "tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
            )
            for i, name in enumerate(header):
                assert [row[i] for row in body] == columns[name], name
            seen |= set(header)
        assert seen == set(expected[0])
        # sorting: a text column both ways in a detail table (behind the disclosure), a headline column by value
        page.click("details summary")
        detail = page.query_selector("table.detail")
        header = detail.eval_on_selector_all("thead th", "els => els.map(e => e.textContent)")
        column = header.index("persona")
        cells = f"rows => rows.map(r => r.cells[{column}].textContent)"
        detail.query_selector_all("thead th")[column].click()
        ascending = detail.eval_on_selector_all("tbody tr", cells)
        assert ascending == sorted(ascending)
        detail.query_selector_all("thead th")[column].click()
        assert detail.eval_on_selector_all("tbody tr", cells) == sorted(ascending, reverse=True)
        headline = page.query_selector("table.headline")
        header = headline.eval_on_selector_all("thead th", "els => els.map(e => e.textContent)")
        shift = header.index("target-trait shift (Elo)")
        headline.query_selector_all("thead th")[shift].click()
        values = headline.eval_on_selector_all("tbody tr", f"rows => rows.map(r => r.cells[{shift}].dataset.value)")
        numbers = [float(v) for v in values if v]
        assert numbers and numbers == sorted(numbers)
        assert page.locator("figure img").count() >= 2
        page.screenshot(path=str(root / "leaderboard-full.png"), full_page=True)
        browser.close()
    assert (root / "leaderboard.png").stat().st_size > 1000


def test_the_widest_headline_fits_1280_pixels(tmp_path):
    """Every headline column filled, long persona and method names, several rows: still no sideways scroll."""
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    page_path = tmp_path / "wide.html"
    page_path.write_text(to_html(_full_table(), [], "logs", 40), encoding="utf-8")
    with sync_playwright() as p:
        browser = _launch(p, chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(page_path.as_uri())
        fit = _headline_fits(page)
        assert fit["columns"] == len(IDENTITY) + len(METRICS) + 1 and fit["right"] <= 1280 and fit["scroll"] <= 1280
        page.screenshot(path=str(tmp_path / "wide.png"))
        browser.close()


def _full_table():
    """A detail table with every headline input present (two methods much apart, one overlapping)."""
    import pandas as pd

    rows = []
    for i, method in enumerate(["base", "prompted", "steered", "fine-tuned"]):
        row = {"base": "org/some-long-base-model-name-8b", "persona": "impulsiveness", "method": method, "model": "m"}
        row.update(
            robust_normal_acc=0.1 + 0.25 * i,
            robust_normal_lo=0.05 + 0.25 * i,
            robust_normal_hi=0.15 + 0.25 * i,
            robust_adv_acc=0.5,
            robust_adv_lo=0.3,
            robust_adv_hi=0.7,
            robust_multiturn_acc=0.333,
            robust_multiturn_lo=0.111,
            robust_multiturn_hi=0.666,
            classifier_status="validated",
            prefs_judge_status="unvalidated",
            prefs_matchups=2000,
            prefs_valid=1900,
            drift_conversations=20,
            prefs_reliability=0.71,
            prefs_reliability_lo=0.62,
            prefs_reliability_hi=0.79,
            drift_turns=8,
            drift_text_auc=0.4 + 0.1 * i,
            drift_text_auc_lo=0.3 + 0.1 * i,
            drift_text_auc_hi=0.5 + 0.1 * i,
            **{f"drift_text_turn{t}": 0.9 - 0.1 * t for t in range(1, 9)},
            **{f"drift_text_turn{t}_lo": 0.8 - 0.1 * t for t in range(1, 9)},
            **{f"drift_text_turn{t}_hi": 1.0 - 0.1 * t for t in range(1, 9)},
        )
        if method != "base":
            row.update(
                prefs_target_shift=-123.4 + 100 * i,
                prefs_target_shift_lo=-250.0 + 100 * i,
                prefs_target_shift_hi=10.0 + 100 * i,
                cap_delta_vs_base=-0.0123,
                cap_delta_lo=-0.0456,
                cap_delta_hi=0.0211,
                coh_win_vs_prompted=0.612 if method != "prompted" else None,
                coh_win_vs_prompted_lo=0.512,
                coh_win_vs_prompted_hi=0.701,
                coh_win_vs_base=0.55 if method == "prompted" else None,
                coh_win_vs_base_lo=0.45,
                coh_win_vs_base_hi=0.65,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def test_headline_marks_best_only_where_its_interval_excludes_the_others():
    table = _full_table()
    (headline,) = headlines(table)
    assert len(headline.columns) == len(IDENTITY) + len(METRICS) + 1 <= MAX_COLUMNS
    assert headline.base == "org/some-long-base-model-name-8b"
    normal = headline.columns.index("classifier accuracy: normal")
    adversarial = headline.columns.index("adversarial")
    best = [row[normal].best for row in headline.rows]
    # normal accuracy: 0.85 [0.80, 0.90] for fine-tuned lies above every other interval
    methods = [row[1].text for row in headline.rows]
    assert (
        best == [m == "fine-tuned" for m in methods]
        and BEST_MARK in headline.rows[methods.index("fine-tuned")][normal].text
    )
    assert not any(row[adversarial].best for row in headline.rows)  # all equal: nothing marked
    shift = headline.columns.index("target-trait shift (Elo)")
    assert headline.rows[methods.index("base")][shift].text == "reference"
    assert not any(row[shift].best for row in headline.rows)  # overlapping intervals: no mark
    assert headline.rows[methods.index("steered")][shift].text == "+77 [-50, +210] (n=1900)"  # every cell: its n
    held = headline.columns.index("persona held over turns (AUC)")
    assert headline.rows[methods.index("prompted")][held].text == "0.50 [0.40, 0.60] (n=20) over 8 turns"
    coherence = headline.columns.index("coherence win rate")
    assert headline.rows[methods.index("prompted")][coherence].text.endswith("vs base, judge unknown")
    assert headline.rows[methods.index("steered")][coherence].text.endswith("vs prompted, judge unknown")
    table.loc[table["method"] == "steered", "coh_win_vs_prompted"] = None
    table["coh_pairs_vs_prompted"] = 3.0
    (again,) = headlines(table)
    assert again.rows[methods.index("steered")][coherence].text == "n/a: no order-consistent verdict"
    table.loc[table["method"] == "steered", "prefs_vs_base"] = "FORCED: judge"
    (forced,) = headlines(table)
    assert forced.rows[methods.index("steered")][shift].text.endswith("FORCED")  # labelled in the cell
    trust = headline.rows[0][-1].text
    assert "judge unvalidated" in trust and "classifier validated" in trust and "reliability 0.71 [0.62, 0.79]" in trust


def test_one_figure_per_question_from_the_detail_columns():
    from leaderboards.figures import question_figures

    captions = [caption.split("?")[0] for caption, _ in question_figures(_full_table(), {})]
    assert captions == [
        "Did the persona take",
        "How robustly",
        "Coherent",
        "Does it hold over a conversation",
        "At what cost",
    ]


def test_headline_is_one_table_per_base_and_multiturn_only_when_present():
    table = _full_table().drop(columns=["robust_multiturn_acc"])
    other = table.copy()
    other["base"] = "another-base"
    tables = headlines(pd_concat([table, other]))
    assert [h.base for h in tables] == ["another-base", "org/some-long-base-model-name-8b"]
    assert all("multi-turn" not in h.columns and len(h.columns) == len(IDENTITY) + len(METRICS) for h in tables)


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_markdown_opens_with_the_headline_then_figures_then_details(board):
    root, paths = board
    text = (root / "lb.md").read_text()
    headline_at = text.index("## Base model:")
    assert headline_at < text.index("## One figure per question") < text.index("## Details")
    first_table = text[headline_at:].split("\n\n")[1].splitlines()[0]
    assert first_table.count(" | ") + 1 <= MAX_COLUMNS and "target-trait shift" in first_table
    figures = [line for line in text.splitlines() if line.startswith("![")]
    assert figures and all((root / line.split("](")[1].rstrip(")")).is_file() for line in figures)


def test_target_trait_shift_is_in_the_table_and_in_prefs_compare(board):
    from bench.revealed_prefs.compare import compare_logs

    root, _ = board
    rows = {(r["persona"], r["method"]): r for r in csv.DictReader(open(root / "lb.csv"))}
    prompted = rows[("loving", "prompted")]
    assert prompted["prefs_targets"] == "loving,warm"  # of loving's five, the two in the 5-trait list
    assert set(prompted["prefs_targets_not_rated"].split(",")) == {"gentle", "supportive", "empathetic"}
    lo, shift, hi = (
        float(prompted[k]) for k in ("prefs_target_shift_lo", "prefs_target_shift", "prefs_target_shift_hi")
    )
    assert 0 < lo < shift < hi and 1 <= float(prompted["prefs_target_mean_rank"]) <= 5
    base_log = next((root / "logs" / "base-loving").rglob("*revealed-prefs*.eval"))
    prompted_log = next((root / "logs" / "prompted-loving").rglob("*revealed-prefs*.eval"))
    text = compare_logs(str(base_log), str(prompted_log), n=20)
    # the table's shift is the one `prefs compare` finds from the same two logs
    assert (
        f"target-trait shift (loving: loving, warm; not rated in both logs: gentle, supportive, empathetic): "
        f"{shift:+.0f} Elo" in text
    )


def test_outputs_carry_no_absolute_path(board):
    """The logs name a base under the test's tmp dir and sit in an absolute log dir: no output shows either."""
    root, paths = board
    for path in [root / "lb.csv", root / "lb.md", root / "index.html"]:
        text = path.read_text()
        assert str(root) not in text and str(REPO_ROOT) not in text, path.name
    # a base outside the log dir, the repo and the working dir is shown by its last component
    assert {r["base"] for r in csv.DictReader(open(root / "lb.csv"))} == {f"tiny{EVIL}"}
    assert "From 5 logs in `logs`" in (root / "lb.md").read_text()


# where a run's own files live (user homes, scratch, this workspace); not system dirs such as /var or /usr,
# which a generated reply may mention ("ls -l /var/log/...") without being a path of the machine
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:home|root|tmp|work|Users)/")


def test_the_committed_example_carries_no_absolute_path():
    """The committed example (results/example: spec, manifest, leaderboard, logs) names no path of the
    machine that made them, and its table has every method of its spec, the fine-tuned ones included."""
    from inspect_ai.log import read_eval_log

    listed = subprocess.run(
        ["git", "ls-files", "results/example"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()  # the committed files, not what a local run added
    logs = [REPO_ROOT / p for p in listed if p.endswith(".eval")]
    assert logs, "the committed example has no logs"
    texts = {p: (REPO_ROOT / p).read_text(encoding="utf-8") for p in listed if p.endswith((".json", ".yaml", ".md"))}
    texts |= {p: (REPO_ROOT / p).read_text(encoding="utf-8") for p in listed if p.endswith((".csv", ".html"))}
    texts |= {str(p.relative_to(REPO_ROOT)): read_eval_log(str(p)).model_dump_json() for p in logs}
    assert {"results/example/spec.yaml", "results/example/leaderboard.csv", "results/example/index.html"} <= set(texts)
    for name, text in texts.items():
        found = ABSOLUTE.search(text)
        assert found is None, f"{name}: {text[max(0, found.start() - 60) : found.end() + 60]}"
        assert str(REPO_ROOT) not in text and str(Path.home()) + "/" not in text, name
    import csv as csv_module
    import io

    rows = list(csv_module.DictReader(io.StringIO(texts["results/example/leaderboard.csv"])))
    kinds = {row["kind"] for row in rows}
    assert {"base", "prompted", "steered", "fine-tuned"} <= kinds, kinds
    assert len({row["base"] for row in rows}) == 1  # one base, one table: the fine-tuned rows joined it


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "charbench/steer/0.2/{repo}/results/vectors/v.safetensors",
            "charbench/steer/0.2/results/vectors/v.safetensors",
        ),
        ("vllm//elsewhere/cache/models/smollm2-135m", "vllm/smollm2-135m"),
        ("charbench/ft//elsewhere/ckpt:final", "charbench/ft/ckpt:final"),
        ("{logs}/run/x.eval", "run/x.eval"),
        ("charbench/prompt/loving/smollm2-135m", "charbench/prompt/loving/smollm2-135m"),
        ("http://node1:8000/v1", "http://node1:8000/v1"),
    ],
)
def test_shown_makes_paths_machine_free(text, expected, tmp_path):
    from charbench.paths import shown

    logs = tmp_path / "logs"
    assert shown(text.format(repo=REPO_ROOT, logs=logs), logs) == expected


def test_portable_names_files_under_the_working_directory_relatively(tmp_path, monkeypatch):
    from charbench.paths import portable

    (tmp_path / "results").mkdir()
    monkeypatch.chdir(tmp_path)
    assert portable(tmp_path / "results" / "v.safetensors") == "results/v.safetensors"
    assert portable("/elsewhere/v.safetensors") == "/elsewhere/v.safetensors"


def test_an_all_unparsable_capability_run_reads_n_a_with_its_reason(tmp_path):
    """Nothing shown that was not measured: no "+0.000 [+0.000, +0.000]" when no answer parsed."""
    from leaderboards.collect import build_table, collect

    for method in ("base", "prompted"):
        eval(
            "bench/capabilities",
            model=scripted(["I would rather not say."] * 24),
            task_args={"tasks": "smoke", "limit_per_task": 24},
            log_dir=str(tmp_path / method),
            display="none",
            metadata={"persona": "loving", "method": method, "base": "tiny"},
        )
    table, _ = build_table(collect(tmp_path))
    (headline,) = headlines(table)
    column = next(m.header for m in METRICS if m.value == "cap_delta_vs_base")
    cells = {row[1].text: row[headline.columns.index(column)].text for row in headline.rows}
    assert cells["prompted"] == "n/a: method: 0 of 24 answers parsable; base: 0 of 24 answers parsable"
    assert "cap_delta_vs_base" not in table or table["cap_delta_vs_base"].isna().all()


def test_each_method_gets_a_one_line_verdict_from_its_figures():
    from leaderboards.headline import to_markdown, verdict

    table = _full_table()
    (headline,) = headlines(table)
    steered = next(v for v in headline.verdicts if "/ steered:" in v)
    assert steered == ("impulsiveness / steered: cannot tell: judge unvalidated; target-trait interval includes 0")
    assert not any("/ base:" in v for v in headline.verdicts)  # the base is the reference
    assert "Did the persona take?" in to_markdown(headline)
    row = table.set_index("method").loc["fine-tuned"].copy()
    row["prefs_judge_status"] = "validated"
    assert verdict(row) == "took: target traits +177 [+50, +310] Elo"
    row["prefs_reliability_lo"] = -0.1
    assert verdict(row) == "cannot tell: tournament reliability interval reaches 0"


def test_a_bar_whose_interval_leaves_out_its_point_still_draws():
    """Bias-corrected intervals of a few matchups can exclude their own point (a user's small planned
    tournament did): the figure draws, it does not crash the leaderboard."""
    from leaderboards.figures import _bars, _pyplot

    fig, ax = _pyplot().subplots()
    _bars(ax, ["warm", "calm"], [12.0, -5.0], [20.0, -30.0], [40.0, -8.0])
    assert len(ax.patches) == 2


def test_the_base_row_is_the_reference_only_for_what_it_measured_and_no_interval_reads_minus_zero():
    table = _full_table()
    methods = list(table["method"])
    table.loc[table["method"] == "steered", "prefs_target_shift_lo"] = -0.3
    (headline,) = headlines(table)
    shift = headline.columns.index("target-trait shift (Elo)")
    assert headline.rows[methods.index("steered")][shift].text.startswith("+77 [+0, +210]")
    capability = next(i for i, c in enumerate(headline.columns) if c.startswith("capability"))
    assert headline.rows[methods.index("base")][capability].text == ""  # no capabilities log: not "reference"
    table["cap_answered"] = 24
    table.loc[table["method"] == "base", "prefs_valid"] = None  # no tournament for the base
    (again,) = headlines(table)
    assert again.rows[methods.index("base")][capability].text == "reference"
    assert again.rows[methods.index("base")][shift].text == ""
