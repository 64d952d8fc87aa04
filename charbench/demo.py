"""`make demo`: the revealed-preference tournament on the embedded model, small enough for 2 CPU cores."""

from __future__ import annotations

from charbench.paths import portable, results_dir

DEMO_TRAITS = "traits-demo-12.txt"  # 12 of the 144 words, so each plays several matches in a short run


def run_demo(limit: int, model: str, max_tokens: int = 64, log_dir: str | None = None) -> None:
    from inspect_ai import eval

    from bench.revealed_prefs.dataset import DATA_DIR
    from bench.revealed_prefs.report import headline

    print(
        f"charbench demo: {limit} matchups over 12 traits of bench/revealed_prefs on {model} "
        "(offline embedded judge; a smoke run, not a measurement)"
    )
    log = eval(
        "bench/revealed_prefs",
        model=model,
        task_args={"n": limit, "max_tokens": max_tokens, "seed": 0, "traits": portable(DATA_DIR / DEMO_TRAITS)},
        log_dir=str(log_dir or results_dir() / "demo"),
        display="plain",
    )[0]
    if log.status != "success":
        raise SystemExit(f"demo run ended with status {log.status}: see {log.location}")
    print()
    print(headline(log))
    print(f"\nlog: {log.location}   (inspect view --log-dir {log_dir or results_dir() / 'demo'})")
