"""Leaderboard from real (tiny) logs, HTML escaping, and a real-browser check of the page."""

import csv
import html
import os
import shutil

import pytest
from inspect_ai import eval

from leaderboards.build import build_leaderboard, format_cell, to_html
from tests.helpers import scripted, smoke_oracle

EVIL = '<script>alert("x")</script>'


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Logs for a base and a prompted method (scripted models, offline judge), then the leaderboard."""
    root = tmp_path_factory.mktemp("lb")
    logs = root / "logs"
    texts = ["I am so warm and caring, my dear friend.", "Blunt answer: no.", "Let x = 2; then x^2 = 4."]
    for method, persona in (("base", "loving"), ("prompted", "loving"), ("prompted", "sarcasm")):
        eval(
            "bench/revealed_prefs",
            model=scripted(texts * 10),
            task_args={"n": 30, "max_tokens": 8},
            log_dir=str(logs / f"{method}-{persona}"),
            display="none",
            metadata={"persona": persona, "method": method, "base": f"tiny{EVIL}"},
        )
    for method, model in (("base", scripted(["ANSWER: A"] * 24)), ("prompted", smoke_oracle())):
        eval(
            "bench/capabilities",
            model=model,
            task_args={"tasks": "smoke", "limit_per_task": 24},
            log_dir=str(logs / f"{method}-loving"),
            display="none",
            metadata={"persona": "loving", "method": method, "base": f"tiny{EVIL}"},
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
    assert float(prompted["prefs_matchups"]) == 30 and prompted["prefs_judge"] == "embedded-similarity-v2"
    assert prompted["prefs_spearman_vs_base"] != ""  # compared against the base model's ranking
    assert prompted["prefs_vs_base"] == "comparable" and prompted["prefs_judge_status"] == "unvalidated"
    # 30 matchups over 144 traits: too few shared traits between halves for a reliability (empty, not 0)
    assert "prefs_reliability" in prompted and prompted["prefs_spread_corrected"] != ""
    assert float(prompted["prefs_spearman_lo"]) <= float(prompted["prefs_spearman_hi"])


def test_capability_delta_against_the_base_row(board):
    root, _ = board
    rows = {(r["persona"], r["method"]): r for r in csv.DictReader(open(root / "lb.csv"))}
    base, prompted = rows[("loving", "base")], rows[("loving", "prompted")]
    assert float(prompted["cap_smoke_acc"]) == 1.0 and float(prompted["cap_smoke_n"]) == 24
    delta = float(prompted["cap_smoke_delta_vs_base"])
    assert delta == pytest.approx(1 - float(base["cap_smoke_acc"]), abs=1e-3)
    assert 0 < float(prompted["cap_smoke_delta_lo"]) <= delta <= float(prompted["cap_smoke_delta_hi"])
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


def test_page_in_a_real_browser_matches_csv_and_sorts(board):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    root, _ = board
    expected = list(csv.reader(open(root / "lb.csv")))
    with sync_playwright() as p:
        browser = p.chromium.launch(
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
        page = browser.new_page()
        page.goto((root / "index.html").as_uri())
        header = page.eval_on_selector_all("#leaderboard thead th", "els => els.map(e => e.textContent)")
        body = page.eval_on_selector_all(
            "#leaderboard tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
        )
        assert [header] + body == expected
        column = header.index("persona")
        page.click(f"#leaderboard thead th:nth-child({column + 1})")
        ascending = page.eval_on_selector_all(
            "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{column}].textContent)"
        )
        assert ascending == sorted(ascending)
        page.click(f"#leaderboard thead th:nth-child({column + 1})")
        descending = page.eval_on_selector_all(
            "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{column}].textContent)"
        )
        assert descending == sorted(descending, reverse=True)
        spread = header.index("prefs_spread")
        page.click(f"#leaderboard thead th:nth-child({spread + 1})")
        values = page.eval_on_selector_all(
            "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{spread}].textContent)"
        )
        numbers = [float(v) for v in values if v]
        assert numbers == sorted(numbers)
        assert page.locator("figure img").count() >= 1
        page.screenshot(path=str(root / "leaderboard.png"), full_page=True)
        browser.close()
    assert (root / "leaderboard.png").stat().st_size > 1000
