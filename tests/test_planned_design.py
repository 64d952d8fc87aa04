"""A planned tournament: a declared share of matchups on the experiment's target traits, fixed before any
model runs and shared by every row, so that "did the target traits move?" needs fewer matchups."""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from inspect_ai import eval

from bench.ratings import matchups_for_shift, matchups_for_target_shift
from bench.revealed_prefs.compare import FACTS, comparable, compare_frames, log_facts
from bench.revealed_prefs.dataset import draw_matchups, draw_planned, load_traits
from bench.revealed_prefs.simulate import World, simulate
from charbench.cli import main
from charbench.errors import CharbenchError
from experiments.runner import design_targets
from experiments.spec import parse_spec
from tests.helpers import scripted

REPO = Path(__file__).resolve().parent.parent
DEMO_TRAITS = str(REPO / "bench/revealed_prefs/data/traits-demo-12.txt")
LOVING = ["loving", "warm", "gentle", "supportive", "empathetic"]


def test_share_zero_is_exactly_the_uniform_design():
    traits = load_traits()
    assert draw_planned(traits, LOVING, 700, 0.0, 4) == draw_matchups(traits, 700, 4)
    assert draw_planned(traits, [], 700, 0.5, 4) == draw_matchups(traits, 700, 4)


def test_the_planned_share_goes_to_every_target_equally_and_keeps_positions_balanced():
    traits = load_traits()
    pairs = draw_planned(traits, LOVING, 2000, 0.5, 0)
    seen = Counter(t for pair in pairs for t in pair)
    first = Counter(a for a, _ in pairs)
    assert len(pairs) == 2000 and all(a != b for a, b in pairs)
    # 1,000 planned matchups over 5 targets, plus their share of the uniform half and of the partners
    assert all(200 <= seen[t] <= 230 for t in LOVING)
    others = [seen[t] for t in traits if t not in LOVING]
    assert max(others) < 40 and min(others) >= 10  # partners dealt from decks: every trait plays
    assert max(abs(2 * first[t] - seen[t]) for t in traits) <= 4  # shown first about half the time
    # the same declaration gives the same design: rows of an experiment share it
    assert draw_planned(traits, LOVING, 2000, 0.5, 0) == pairs
    assert draw_planned(traits, LOVING, 2000, 0.5, 1) != pairs


def test_a_planned_design_narrows_the_target_shift_interval_at_a_third_of_the_matchups():
    """Simulated with prompt clusters and judge affinity: the target shift's paired interval on a planned
    design at 1,500 matchups is narrower than the uniform design's at 4,500."""
    world = World.make(traits=40, prompts=60, seed=3)
    targets = world.traits[:3]
    widths = {"uniform": [], "planned": []}
    for rep in range(2):
        base = pd.Series(np.random.default_rng(rep).normal(0, 100, 40), index=world.traits)
        method = base.copy()
        method[targets] += 100
        for kind, n, share in (("uniform", 4500, 0.0), ("planned", 1500, 0.5)):
            design_args = {"targets": targets, "share": share, "design_seed": rep}
            a = simulate(world, n, preference=base, run_seed=2 * rep, **design_args)
            b = simulate(world, n, preference=method, run_seed=2 * rep + 1, **design_args)
            shift = compare_frames(a, b, n=60, seed=rep, targets=targets, reliability=False)["target"]
            widths[kind].append(shift["hi"] - shift["lo"])
    assert np.mean(widths["planned"]) < np.mean(widths["uniform"])


def test_power_knows_the_planned_design():
    assert matchups_for_target_shift(100, 144, 1) == matchups_for_shift(100, 144)
    uniform = matchups_for_target_shift(100, 144, 5)
    assert uniform == pytest.approx(matchups_for_shift(100, 144) / 5, rel=0.01)  # five traits averaged
    alone = matchups_for_target_shift(100, 144, 5, share=0.5)
    shared = matchups_for_target_shift(100, 144, 5, share=0.5, design_targets=38)
    assert alone < shared < uniform  # the more personas share the planned share, the less each gets


def test_prefs_power_answers_for_a_persona_on_a_planned_design(capsys):
    assert main(["prefs", "power", "--persona", "loving", "--share", "0.5", "--design-targets", "10"]) == 0
    out = capsys.readouterr().out
    planned = matchups_for_target_shift(100, 144, 5, share=0.5, design_targets=10)
    uniform = matchups_for_target_shift(100, 144, 5)
    assert f"loving (5 targets): {uniform} matchups per log on a uniform design; {planned} on the planned" in out


def test_the_tournament_records_its_design_and_logs_of_different_designs_are_not_compared(tmp_path):
    logs = {}
    for kind, args in (("uniform", {}), ("planned", {"targets": "loving,warm,nosuch", "target_share": 0.5})):
        logs[kind] = eval(
            "bench/revealed_prefs",
            model=scripted(["A warm reply."] * 24),
            task_args={"n": 24, "max_tokens": 8, "traits": DEMO_TRAITS, **args},
            log_dir=str(tmp_path / kind),
            display="none",
        )[0]
    meta = logs["planned"].eval.metadata
    assert meta["design_targets"] == ["loving", "warm"] and meta["design_share"] == 0.5  # nosuch: not a trait
    assert meta["design"].startswith("planned: 0.5 of matchups on 2 target traits")
    pairs = [(s.metadata["trait_a"], s.metadata["trait_b"]) for s in logs["planned"].samples]
    assert sum("loving" in p or "warm" in p for p in pairs) >= 12
    facts = {kind: log_facts(log) for kind, log in logs.items()}
    assert "design" in FACTS and facts["uniform"]["design"] == "uniform"
    with pytest.raises(CharbenchError, match="design: uniform vs planned"):
        comparable(facts["uniform"], facts["planned"])


def test_a_share_without_a_target_in_the_vocabulary_is_a_one_line_error():
    from bench.revealed_prefs.dataset import tournament_dataset

    with pytest.raises(CharbenchError, match="none of the targets \\(nosuch\\) is in the trait list"):
        tournament_dataset(10, 0, "like", DEMO_TRAITS, "general", targets="nosuch", target_share=0.5)
    with pytest.raises(CharbenchError, match="use a share in \\[0, 1\\)"):
        tournament_dataset(10, 0, "like", DEMO_TRAITS, "general", targets="loving", target_share=1.0)


def test_an_experiment_declares_one_design_for_every_row():
    spec = parse_spec(
        {
            "experiment": "t",
            "bases": [{"label": "tiny", "model": "charbench/smollm2-135m"}],
            "personas": ["loving", "sarcasm"],
            "methods": [{"label": "base", "kind": "base"}, {"label": "prompted", "kind": "prompted"}],
            "evals": {"revealed_prefs": {"n": 12, "design": {"share": 0.4}}},
        }
    )
    union = ["loving", "warm", "gentle", "supportive", "empathetic", "sarcastic", "irreverent", "blunt"]
    assert design_targets(spec) == union  # the union over the personas, the base row's too
    from experiments.plan import plan_rows
    from experiments.runner import Instruments, _task

    rows = [row for row in plan_rows(spec) if "revealed_prefs" in row.evals]
    tasks = [_task(spec, row, "revealed_prefs", Path("."), Instruments()) for row in rows]
    assert len(tasks) == 3  # base, prompted loving, prompted sarcasm
    designs = {t.metadata["design"] for t in tasks}
    assert len(designs) == 1 and next(iter(designs)).startswith("planned: 0.4 of matchups on 8 target traits")
    samples = [[(s.metadata["trait_a"], s.metadata["trait_b"]) for s in t.dataset] for t in tasks]
    assert samples[0] == samples[1] == samples[2]
    from experiments.runner import describe_plan

    line = "tournament design (every row): 12 matchups, planned: 0.4 of them on 8 target traits (loving, warm,"
    assert any(x.startswith(line) for x in describe_plan(spec, plan_rows(spec), Path("out")))
    uniform = parse_spec({**spec.model_dump(exclude_none=True), "evals": {"revealed_prefs": {"n": 12}}})
    assert design_targets(uniform) == []


def test_the_design_is_the_target_set_whatever_its_order_and_too_few_matchups_stay_uniform():
    from bench.revealed_prefs.dataset import design_name, planned_count

    traits = load_traits()
    one, other = (draw_planned(traits, targets, 300, 0.5, 0) for targets in (["warm", "loving"], ["loving", "warm"]))
    assert one == other
    assert design_name(["warm", "loving"], 0.5, 300) == design_name(["loving", "warm"], 0.5, 300)
    assert planned_count(1, 0.4, ["loving"]) == 0 and design_name(["loving"], 0.4, 1) == "uniform"
    assert planned_count(3, 0.9, ["loving"]) == 2  # at least one matchup stays uniform
    with pytest.raises(CharbenchError, match="without a target_share"):
        from bench.revealed_prefs.dataset import planned_targets

        planned_targets(traits, "loving", 0.0)


def test_prefs_power_counts_a_persona_target_outside_the_design_and_refuses_a_bad_share(capsys):
    inside = matchups_for_target_shift(100, 144, 5, share=0.5, design_targets=10)
    partly = matchups_for_target_shift(100, 144, 5, share=0.5, design_targets=10, in_design=2)
    assert partly > inside  # targets left out of the planned share get fewer matchups than uniform gives
    assert main(["prefs", "power", "--persona", "loving", "--share", "1.2"]) == 2
    assert "--share 1.2: use a share in [0, 1)" in capsys.readouterr().err
