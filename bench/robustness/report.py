"""Macro-F1 across personas (the reference's headline) from the robustness logs of one method."""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.log import read_eval_log
from sklearn.metrics import f1_score

from bench.stats import mean_se
from charbench.errors import CharbenchError


def rows_from_logs(paths: list[str]) -> pd.DataFrame:
    rows = []
    for path in paths:
        try:
            log = read_eval_log(path)
        except FileNotFoundError:
            raise CharbenchError(f"log {path} does not exist") from None
        for sample in log.samples or []:
            for score in (sample.scores or {}).values():
                meta = score.metadata or {}
                if "predicted" in meta and "persona" in meta:
                    rows.append({k: meta[k] for k in ("persona", "predicted", "split", "instruction")} | {"log": path})
    if not rows:
        raise CharbenchError("no bench/robustness samples in these logs")
    return pd.DataFrame(rows)


def macro_f1(frame: pd.DataFrame, labels: list[str]) -> float:
    return float(f1_score(frame["persona"], frame["predicted"], labels=labels, average="macro", zero_division=0))


def macro_f1_interval(
    frame: pd.DataFrame, labels: list[str], n: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    draws = [macro_f1(frame.iloc[rng.integers(0, len(frame), len(frame))], labels) for _ in range(n)]
    return macro_f1(frame, labels), float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def report(paths: list[str], n: int = 200, seed: int = 0) -> pd.DataFrame:
    """One row per split/instruction: macro-F1 over the personas in the logs, 95% bootstrap CI, samples."""
    frame = rows_from_logs(paths)
    labels = sorted(frame["persona"].unique())
    groups = [("normal", frame[frame["split"] == "normal"])]
    groups += [(f"adversarial/{key}", g) for key, g in frame[frame["split"] == "adversarial"].groupby("instruction")]
    table = []
    for name, group in groups:
        if len(group):
            f1, lo, hi = macro_f1_interval(group, labels, n=n, seed=seed)
            table.append({"split": name, "macro_f1": f1, "lo": lo, "hi": hi, "samples": len(group)})
    result = pd.DataFrame(table)
    adversarial = result[result["split"].str.startswith("adversarial/")]
    if len(adversarial):
        mean, se = mean_se(adversarial["macro_f1"].tolist())
        result = pd.concat(
            [
                result,
                pd.DataFrame(
                    [
                        {
                            "split": "adversarial (mean +- SE over instructions)",
                            "macro_f1": mean,
                            "lo": mean - se,
                            "hi": mean + se,
                            "samples": int(adversarial["samples"].sum()),
                        }
                    ]
                ),
            ]
        )
    result.attrs["personas"] = labels
    return result


def format_report(result: pd.DataFrame) -> str:
    lines = [
        f"personas: {', '.join(result.attrs['personas'])}",
        f"{'split':<45}{'macro-F1':>9}  {'interval':<16}{'samples':>8}",
    ]
    for _, r in result.iterrows():
        lines.append(f"{r['split']:<45}{r['macro_f1']:>9.3f}  [{r['lo']:.3f}, {r['hi']:.3f}]  {int(r['samples']):>6}")
    lines.append("intervals: 95% bootstrap for single rows; +- 1 SE over instructions for the mean row")
    return "\n".join(lines)
