"""Experiments: a spec validated before any compute, run as one eval set whose logs carry their rows,
read back as one table per base with every method's target-trait shift against the spec's base row."""

import json
from pathlib import Path

import pytest
import yaml

from charbench.cli import main
from experiments.spec import SpecError, parse_spec
from tests.helpers import five_traits

REPO = Path(__file__).resolve().parent.parent
DEMO_TRAITS = str(REPO / "bench/revealed_prefs/data/traits-demo-12.txt")


def minimal(**overrides) -> dict:
    spec = {
        "experiment": "t",
        "bases": [{"label": "tiny", "model": "charbench/smollm2-135m"}],
        "personas": ["loving"],
        "methods": [{"label": "base", "kind": "base"}, {"label": "prompted", "kind": "prompted"}],
        "evals": {"revealed_prefs": {"n": 12}},
    }
    return spec | overrides


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"evals": {"revealed_prefs": {"n": 12, "nn": 3}}}, "evals.revealed_prefs.nn: unknown key"),
        ({"methods": [{"label": "base", "kind": "base"}, {"label": "ft", "kind": "fine-tuned"}]}, "needs `adapter:`"),
        (
            {"methods": [{"label": "b", "kind": "base"}, {"label": "c", "kind": "base"}]},
            "at most one method of kind base",
        ),
        (
            {
                "bases": [{"label": "v", "model": "vllm/org/model"}],
                "methods": [{"label": "base", "kind": "base"}, {"label": "s", "kind": "steered"}],
            },
            "steering needs activations",
        ),
        ({"evals": {"robustness": {}}}, "evals.robustness needs instruments.classifier"),
        ({"evals": {"coherence": {"baseline": "nope"}}}, "baseline 'nope' is not a method label"),
        ({"bases": []}, "bases: List should have at least 1 item"),
        ({"experiment": "two words"}, "experiment: String should match pattern"),
    ],
)
def test_a_bad_spec_is_one_line_naming_the_field(change, expected):
    with pytest.raises(SpecError) as err:
        parse_spec(minimal(**change), source="x.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("x.yaml: ") and "\n" not in str(err.value)


def test_the_cli_refuses_a_bad_spec_with_exit_2_before_any_compute(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(minimal(personas=["no-such-persona"])))
    assert main(["run", str(path), "--log-dir", str(tmp_path / "out")]) == 2
    assert "personas.0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    path.write_text("experiment: [unclosed")
    assert main(["run", str(path)]) == 2


def test_dry_run_says_when_the_classifier_cannot_validate(tmp_path, capsys):
    spec = minimal(evals={"robustness": {"n": 2}}, instruments={"classifier": {"train": {"prompts": 12}}})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--dry-run", "--log-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert (
        "WILL NOT RUN: classifier: 12 prompts -> " in out
        and "8 needed: set instruments.classifier.train.prompts >=" in out
    )
    assert main(["run", str(path), "--log-dir", str(tmp_path / "out")]) == 2  # and the real run refuses it
    assert not (tmp_path / "out").exists()


def test_a_given_classifier_that_learned_a_scored_method_is_refused_before_any_compute(tmp_path, capsys):
    """`instruments.classifier.path` naming a classifier trained on a fine-tuned row's own replies: the
    dry run says WILL NOT RUN and the real run exits 2 before generating (the scorers would refuse it
    only after every reply of the row was paid for)."""
    adapter = tmp_path / "adapters" / "loving"
    adapter.mkdir(parents=True)
    seen = tmp_path / "clf"
    seen.mkdir()
    (seen / "manifest.json").write_text(json.dumps({"models": {f"charbench/ft/{adapter}": "fine-tuned"}}))
    spec = minimal(
        personas=["loving"],
        methods=[{"label": "base", "kind": "base"}, {"label": "dpo", "kind": "fine-tuned", "adapter": str(adapter)}],
        evals={"robustness": {"n": 2}},
        instruments={"classifier": {"path": str(seen), "allow_weak": True}},
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--dry-run", "--log-dir", str(tmp_path / "out")]) == 0
    assert "WILL NOT RUN: instruments.classifier.path: classifier" in capsys.readouterr().out
    assert main(["run", str(path), "--log-dir", str(tmp_path / "out")]) == 2
    assert "own replies" in capsys.readouterr().err and not (tmp_path / "out").exists()
    (seen / "manifest.json").write_text(json.dumps({"models": {}}))  # a classifier that never saw it: planned
    assert main(["run", str(path), "--dry-run", "--log-dir", str(tmp_path / "out2")]) == 0
    assert "own replies" not in capsys.readouterr().out


def test_the_default_classifier_size_validates(capsys):
    from experiments.plan import classifier_check

    spec = parse_spec(minimal(evals={"robustness": {}}, instruments={"classifier": {"train": {}}}))
    assert classifier_check(spec) is None


def test_the_reference_grid_dry_runs_offline(capsys):
    assert main(["run", str(REPO / "experiments/oct.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 base(s) x 11 persona(s)" in out
    assert "charbench/ft/maius/qwen-2.5-7b-it-personas:loving" in out
    assert "charbench/ft/maius/qwen-2.5-7b-it-misalignment" in out
    assert "charbench/ft/maius/llama-3.1-8b-it-personas-dpo:sarcasm" in out
    assert "WILL NOT RUN" not in out


def test_fine_tuned_names_join_their_base(tmp_path, tiny_llama_dir):
    """A plain `inspect eval` of an adapter, local or on vLLM, lands in its base model's table."""
    from bench.models.specs import describe_model

    adapter = make_adapter(tiny_llama_dir, tmp_path / "adapter")
    assert describe_model(f"charbench/ft/{adapter}")["base"] == str(tiny_llama_dir)
    assert describe_model(f"charbench/ft/{adapter}")["method"] == "fine-tuned"
    assert (
        describe_model(f"vllm/{tiny_llama_dir}:{adapter}")["base"] == describe_model(f"vllm/{tiny_llama_dir}")["base"]
    )


def make_adapter(base_dir: Path, out: Path, seed: int = 1) -> Path:
    """A random (non-zero) LoRA adapter on the tiny model, as a trainer would save it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.mark.slow
def test_a_spec_with_all_four_methods_gives_one_table_and_resumes(tmp_path, tiny_llama_dir, monkeypatch):
    """Base, prompted, steered and fine-tuned rows of one base land in one table, each with a
    target-trait shift against the spec's base row; a re-run generates nothing; an appended method runs
    only its own rows."""
    from inspect_ai.log import list_eval_logs

    from leaderboards.collect import build_table, collect
    from trainers.steering import extract

    monkeypatch.chdir(tmp_path)
    vector = tmp_path / "vectors" / "loving.safetensors"
    extract("loving", str(tiny_llama_dir)).save(vector)
    make_adapter(tiny_llama_dir, tmp_path / "adapters" / "tiny" / "loving")
    spec = {
        "experiment": "four",
        "bases": [{"label": "tiny", "model": f"charbench/{tiny_llama_dir}"}],
        "personas": ["loving"],
        "methods": [
            {"label": "base", "kind": "base"},
            {"label": "prompted", "kind": "prompted"},
            {"label": "steered", "kind": "steered", "vector": str(vector), "coef": 2.0},
        ],
        "evals": {"revealed_prefs": {"n": 25, "max_tokens": 6, "traits": five_traits(tmp_path)}},
    }
    path = tmp_path / "four.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "results" / "four"
    assert main(["run", str(path), "--log-dir", str(out)]) == 0
    first = {i.name for i in list_eval_logs(str(out / "logs"))}
    assert len(first) == 3
    assert main(["run", str(path), "--log-dir", str(out)]) == 0  # nothing new to do
    assert {i.name for i in list_eval_logs(str(out / "logs"))} == first

    spec["methods"].append({"label": "dpo", "kind": "fine-tuned", "adapter": "adapters/{base}/{persona}"})
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--log-dir", str(out)]) == 0
    added = {i.name for i in list_eval_logs(str(out / "logs"))} - first
    assert len(added) == 1  # only the new row ran

    table, _ = build_table(collect(out))
    assert sorted(table["method"]) == ["base", "dpo", "prompted", "steered"]
    assert set(table["base"]) == {"tiny"}  # one table: the declared base, not four model names
    assert set(table["kind"]) == {"base", "prompted", "steered", "fine-tuned"}
    methods = table.set_index("method")
    for method in ("prompted", "steered", "dpo"):
        assert methods.loc[method, "prefs_vs_base"] == "comparable"
        assert methods.loc[method, "prefs_target_shift"] == methods.loc[method, "prefs_target_shift"]  # not NaN
    manifest = json.loads((out / "rows.json").read_text())
    assert {e["row"]["method"] for e in manifest} == {"base", "prompted", "steered", "dpo"}
    assert (out / "spec.yaml").is_file()
    assert main(["leaderboard", str(out)]) == 0
    assert (out / "leaderboard.md").read_text().count("## Base model: tiny") == 1


def test_compare_and_score_write_a_spec_that_run_repeats(tmp_path, monkeypatch, tiny_llama_dir):
    """The shortcuts are specs: compare declares all four methods on one base, score the one model."""
    from experiments import shortcuts
    from experiments.plan import plan_rows, row_model
    from experiments.spec import load_spec

    written = []
    monkeypatch.setattr(shortcuts, "run", lambda spec, root, *a, **k: written.append(shortcuts.write_spec(spec, root)))
    adapter = make_adapter(tiny_llama_dir, tmp_path / "adapter")
    config = shortcuts.SuiteConfig.small(capabilities="none")
    shortcuts.compare_methods("loving", str(tiny_llama_dir), config, adapter=str(adapter), coef=2.0, log_root=tmp_path)
    spec = load_spec(written[-1])
    assert [m.kind for m in spec.methods] == ["base", "prompted", "steered", "fine-tuned"]
    assert spec.instruments.classifier.train.prompts == 60  # a size that validates
    assert spec.evals.revealed_prefs.n == 48 and spec.evals.coherence.baseline == "prompted"
    models = {r.method.label: row_model(r, tmp_path, coef=2.0) for r in plan_rows(spec) if r.persona}
    assert models["fine-tuned"] == f"charbench/ft/{adapter}"

    shortcuts.score_model(f"charbench/prompt/loving/{tiny_llama_dir}", "loving", config, log_root=tmp_path)
    spec = load_spec(written[-1])
    assert [(m.label, m.kind) for m in spec.methods] == [("prompted", "prompted")]
    (row,) = plan_rows(spec)
    assert row_model(row, tmp_path) == f"charbench/prompt/loving/{tiny_llama_dir}"


def test_role_models_name_the_embedded_base_by_name_not_by_its_cache_path(tmp_path):
    """The drift user and the robustness prefill default to the row's base model: for a steered or
    fine-tuned model on the embedded weights that is `charbench/smollm2-135m`, never the cache directory
    (which would put a machine path in every log's model usage)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from bench.models.loader import embedded_model_dir
    from bench.models.specs import base_model_name
    from bench.models.steering import SteeringVector

    weights = str(embedded_model_dir())
    vector = SteeringVector({1: torch.ones(576)}, {"base_model": weights, "persona": "loving"})
    path = vector.save(tmp_path / "v.safetensors")
    assert base_model_name(f"charbench/steer/0.5/{path}") == "charbench/smollm2-135m"
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(weights), LoraConfig(r=2, target_modules=["q_proj"]))
    lora.save_pretrained(tmp_path / "adapter")
    assert base_model_name(f"charbench/ft/{tmp_path / 'adapter'}") == "charbench/smollm2-135m"


def test_a_declared_retest_reruns_the_base_tournament_and_gives_the_ceiling(tmp_path, tiny_llama_dir, capsys):
    """`retest: true`: the base row's tournament runs twice on one design with independent replies; the
    run's summary and the leaderboard show the test-retest Spearman beside each Spearman against the base."""
    from inspect_ai.log import read_eval_log

    from leaderboards.collect import build_table, collect

    spec = {
        "experiment": "retest",
        "bases": [{"label": "tiny", "model": f"charbench/{tiny_llama_dir}"}],
        "personas": ["loving"],
        "methods": [{"label": "base", "kind": "base"}, {"label": "prompted", "kind": "prompted"}],
        "evals": {"revealed_prefs": {"n": 24, "max_tokens": 6, "traits": DEMO_TRAITS, "retest": True}},
    }
    path = tmp_path / "retest.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "results" / "retest"
    assert main(["run", str(path), "--log-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test-retest ceiling (A vs a second run of A on its design)" in printed
    manifest = json.loads((out / "rows.json").read_text())
    runs = {e["row"].get("replicate", 0): e["log"] for e in manifest if e["row"]["method"] == "base"}
    assert set(runs) == {0, 1}
    first, second = (read_eval_log(str(out / "logs" / runs[k])) for k in (0, 1))
    assert [s.metadata["trait_a"] for s in first.samples] == [s.metadata["trait_a"] for s in second.samples]
    assert [s.output.completion for s in first.samples] != [s.output.completion for s in second.samples]
    table, _ = build_table(collect(out))
    prompted = table.set_index("method").loc["prompted"]
    assert prompted["prefs_retest"] == "base rerun on its design"
    assert -1 <= prompted["prefs_retest_spearman"] <= 1
