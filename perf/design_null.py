"""Why the tournament's null is measured on its design: a model that ignores the offered traits, judged
by the real judge on the real design.

    .venv/bin/python perf/design_null.py [--n 600] [--judge embedded] [--grader MODEL]

The model under test answers every matchup with one constant reply (a mockllm model): it ignores the
offered traits entirely, so it has no preference. The tournament runs through Inspect with the real
task and judge (the offline embedded judge by default; `--grader` binds an Inspect model as the
grader). Printed side by side, from the same log:

- the figures a coin-flip null gives: the spread with every rating's matchup-bootstrap noise removed
  (sqrt(max(0, spread^2 - mean(se^2)))), the coin-flip spread, and the split-half reliability of the
  raw ratings with matchups as the unit;
- the design null's: the null's spread, the spread net of the null and the reliability net of it,
  prompts as the unit (bench/revealed_prefs/validity.py).

With a deterministic judge (the embedded one) a constant reply gets the same verdict on a pair and a
prompt whatever traits it was offered, so the design null reproduces the observed verdicts exactly.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from bench import ratings
from bench.revealed_prefs import validity
from bench.revealed_prefs.compare import matches_from_log

REPLY = (
    "Sure. Here is a clear answer: start with the basics, take it one step at a time, and ask if anything is unclear."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=600, help="matchups (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="design seed (default: %(default)s)")
    parser.add_argument("--grader", help="an Inspect model as the judge (default: the offline embedded judge)")
    args = parser.parse_args()

    from inspect_ai import eval
    from inspect_ai.model import ModelOutput, ModelUsage, get_model

    from bench.revealed_prefs.revealed_prefs import revealed_prefs

    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)  # mockllm would count with tiktoken
    outputs = [ModelOutput.from_content("mockllm/model", REPLY).model_copy(update={"usage": usage})] * args.n

    with tempfile.TemporaryDirectory() as logs:
        log = eval(
            revealed_prefs(n=args.n, seed=args.seed, max_tokens=64, judge="grader" if args.grader else "embedded"),
            model=get_model("mockllm/model", custom_outputs=outputs, memoize=False),
            model_roles={"grader": args.grader} if args.grader else None,
            log_dir=logs,
            display="none",
        )[0]
        frame, _ = matches_from_log(log.location)
    valid = frame[(frame["winner"] == frame["trait_a"]) | (frame["winner"] == frame["trait_b"])]
    table = ratings.bootstrap(valid[["trait_a", "trait_b", "winner"]], n=100, seed=0)
    spread = float(table["rating"].std(ddof=0))
    coinflip_corrected = float(np.sqrt(max(0.0, spread**2 - float((table["se"] ** 2).mean()))))
    floor, _ = validity.coinflip_spread(valid, seed=0)
    (by_matchup,) = validity.encode([valid[["trait_a", "trait_b", "winner"]]])
    raw_rel = validity.reliability(by_matchup)
    figures = validity.log_figures(frame, n=100, seed=0)
    rel = figures["reliability"]
    lo, hi = figures["corrected_ci"]
    print(f"constant reply, {len(valid)} valid of {len(frame)} matchups, judge {args.grader or 'embedded'}")
    print("| null | spread | corrected spread | reliability [95% CI] | unit |")
    print("|---|---|---|---|---|")
    print(
        f"| coin flip | {spread:.0f} (coin-flip spread {floor:.0f}) | {coinflip_corrected:.0f} | "
        f"{raw_rel[0]:.2f} [{raw_rel[1]:.2f}, {raw_rel[2]:.2f}] (raw ratings) | matchup |"
    )
    print(
        f"| design | {spread:.0f} (null's spread {figures['null_spread']:.0f}) | {figures['corrected']:.0f} "
        f"[{lo:.0f}, {hi:.0f}] | {rel[0]:.2f} [{rel[1]:.2f}, {rel[2]:.2f}] (net of the null) | {figures['unit']} |"
    )


if __name__ == "__main__":
    main()
