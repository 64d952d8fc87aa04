"""Macro-F1 across personas (the reference's headline) from robustness logs: one definition, used by
`charbench robustness report` and the leaderboard alike.

- Intervals are 95% percentile intervals of a cluster bootstrap whose unit is the prompt: every
  persona's reply to one prompt, and all adversarial variants of it, are resampled together.
- `adversarial` macro-F1 is the mean over instructions of the per-instruction macro-F1 (each
  instruction weighs the same); `adversarial (pooled)` is macro-F1 over all adversarial replies at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from inspect_ai.log import read_eval_log

from bench.stats import BOOTSTRAP_N, cluster_bootstrap, percentile_interval
from charbench.errors import CharbenchError

SPLIT_ORDER = ("normal", "adversarial", "multiturn")
UNIT = "prompt (every persona's replies to one prompt, all its variants)"


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
                    rows.append(
                        {k: meta[k] for k in ("persona", "predicted", "split", "instruction")}
                        # older logs: the sample id is `<prompt>:<variant>`; the prompt is the cluster
                        | {"prompt_id": str(meta.get("prompt_id", str(sample.id).split(":")[0])), "log": path}
                    )
    if not rows:
        raise CharbenchError("no bench/robustness samples in these logs")
    return pd.DataFrame(rows)


def _codes(frame: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    index = {label: i for i, label in enumerate(labels)}
    truth = np.array([index[p] for p in frame["persona"]], dtype=int)
    # a prediction outside `labels` (e.g. `none`) is wrong for every persona: code -1
    pred = np.array([index.get(p, -1) for p in frame["predicted"]], dtype=int)
    return truth, pred


def macro_f1_codes(truth: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Macro-F1 over the k true labels (sklearn's definition with zero_division=0), vectorised."""
    f1 = np.zeros(k)
    for c in range(k):
        tp = np.sum((truth == c) & (pred == c))
        denom = np.sum(truth == c) + np.sum(pred == c)
        f1[c] = 2 * tp / denom if denom else 0.0
    return float(f1.mean())


def macro_f1(frame: pd.DataFrame, labels: list[str]) -> float:
    truth, pred = _codes(frame, labels)
    return macro_f1_codes(truth, pred, len(labels))


def split_scores(frame: pd.DataFrame, labels: list[str], n: int = BOOTSTRAP_N, seed: int = 0) -> list[dict]:
    """One dict per split and per adversarial instruction: macro_f1, lo, hi (95%), se, samples, prompts."""
    k = len(labels)
    out = []

    def row(name: str, part: pd.DataFrame, statistic, point: float) -> dict:
        draws = cluster_bootstrap(part["prompt_id"].tolist(), statistic, n=n, seed=seed)
        lo, hi, se = percentile_interval(draws)
        return {
            "split": name,
            "macro_f1": point,
            "lo": lo,
            "hi": hi,
            "se": se,
            "samples": len(part),
            "prompts": part["prompt_id"].nunique(),
        }

    for split in SPLIT_ORDER:
        part = frame[frame["split"] == split].reset_index(drop=True)
        if not len(part):
            continue
        truth, pred = _codes(part, labels)
        if split != "adversarial":
            out.append(row(split, part, lambda r: macro_f1_codes(truth[r], pred[r], k), macro_f1_codes(truth, pred, k)))
            continue
        instructions = sorted(part["instruction"].unique())
        codes = np.array([instructions.index(i) for i in part["instruction"]])

        def mean_over_instructions(r: np.ndarray) -> float:
            scores = [
                macro_f1_codes(truth[r][codes[r] == j], pred[r][codes[r] == j], k) for j in range(len(instructions))
            ]
            return float(np.mean(scores))

        everything = np.arange(len(part))
        out.append(row("adversarial", part, mean_over_instructions, mean_over_instructions(everything)))
        out.append(
            row(
                "adversarial (pooled)",
                part,
                lambda r: macro_f1_codes(truth[r], pred[r], k),
                macro_f1_codes(truth, pred, k),
            )
        )
        for j, key in enumerate(instructions):
            sub = part[codes == j].reset_index(drop=True)
            t, p = _codes(sub, labels)
            out.append(
                row(
                    f"adversarial/{key}",
                    sub,
                    lambda r, t=t, p=p: macro_f1_codes(t[r], p[r], k),
                    macro_f1_codes(t, p, k),
                )
            )
    return out


def report(paths: list[str], n: int = BOOTSTRAP_N, seed: int = 0) -> pd.DataFrame:
    """The table of `split_scores` over the personas in the logs."""
    frame = rows_from_logs(paths)
    labels = sorted(frame["persona"].unique())
    result = pd.DataFrame(split_scores(frame, labels, n=n, seed=seed))
    result.attrs["personas"] = labels
    return result


def format_report(result: pd.DataFrame) -> str:
    lines = [
        f"personas: {', '.join(result.attrs['personas'])}",
        f"{'split':<40}{'macro-F1':>9}  {'95% interval':<16}{'SE':>7}{'samples':>9}{'prompts':>9}",
    ]
    for _, r in result.iterrows():
        lines.append(
            f"{r['split']:<40}{r['macro_f1']:>9.3f}  [{r['lo']:.3f}, {r['hi']:.3f}]{r['se']:>8.3f}"
            f"{int(r['samples']):>9}{int(r['prompts']):>9}"
        )
    lines.append(
        f"intervals: 95% cluster bootstrap, unit = {UNIT}; adversarial = mean of the per-instruction "
        "macro-F1, pooled = over all adversarial replies at once"
    )
    return "\n".join(lines)
