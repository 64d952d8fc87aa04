import json
import re

import pytest
from inspect_ai.model import ModelAPI, ModelOutput, ModelUsage, get_model, modelapi

from bench.judges import embedded
from bench.judges.validation import (
    THRESHOLD,
    compare_variants,
    data_hash,
    embedded_validation,
    load_labelled,
    save_validation,
    saved_validation,
    split_halves,
    validate_grader,
)
from bench.revealed_prefs.dataset import load_traits
from bench.stats import wilson_interval
from charbench.cli import main
from charbench.errors import CharbenchError
from tests.helpers import charbench

TRAITS_SHOWN = re.compile(r'character traits: "(.+?)" or "(.+?)"')
REPLY = re.compile(r"<reply>\n(.*)\n</reply>", re.DOTALL)


@pytest.fixture(scope="module")
def shipped():
    return load_labelled()


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARBENCH_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


def grader(name: str, answer):
    """An Inspect model whose answer is `answer(first_shown, second_shown, reply)`, whatever the call order."""
    usage = ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2)

    class Grader(ModelAPI):
        async def generate(self, input, tools, tool_choice, config):
            prompt = input[-1].text
            first, second = TRAITS_SHOWN.search(prompt).groups()
            text = answer(first, second, REPLY.search(prompt).group(1))
            return ModelOutput.from_content(self.model_name, text).model_copy(update={"usage": usage})

    modelapi(name=name)(lambda: Grader)
    return get_model(f"{name}/judge")


def write_rows(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


GOOD = {"text": "Sure thing!", "trait_a": "casual", "trait_b": "formal", "label": "casual"}


# The shipped labelled set


def test_shipped_set_is_large_with_labels_that_name_one_of_its_two_traits(shipped):
    assert len(shipped) >= 150
    assert all(item["label"] in (item["trait_a"], item["trait_b"]) for item in shipped)
    assert all(item["trait_a"] != item["trait_b"] for item in shipped)


def test_shipped_set_uses_only_the_144_traits_and_covers_at_least_40(shipped):
    used = {t for item in shipped for t in (item["trait_a"], item["trait_b"])}
    assert used <= set(load_traits())
    assert len(used) >= 40


def test_shipped_set_is_mostly_tone_and_balances_the_label_position(shipped):
    assert {item["kind"] for item in shipped} == {"tone", "topic"}
    assert sum(item["kind"] == "tone" for item in shipped) / len(shipped) >= 0.6
    assert 0.4 <= sum(item["label"] == item["trait_a"] for item in shipped) / len(shipped) <= 0.6


def test_shipped_replies_answer_a_question_without_naming_either_trait(shipped):
    assert all(item["question"] for item in shipped)
    for item in shipped:
        for trait in (item["trait_a"], item["trait_b"]):
            assert not re.search(rf"\b{trait}", item["text"], re.IGNORECASE), (trait, item["text"])


def test_data_hash_is_stable_and_changes_with_a_label(shipped):
    assert data_hash(shipped) == data_hash(load_labelled()) and len(data_hash(shipped)) == 12
    flipped = [
        dict(
            shipped[0],
            label=shipped[0]["trait_b"] if shipped[0]["label"] == shipped[0]["trait_a"] else shipped[0]["trait_a"],
        )
    ]
    assert data_hash(flipped + shipped[1:]) != data_hash(shipped)


def test_halves_are_disjoint_seeded_and_hold_every_trait_pair(shipped):
    cal, held = split_halves(shipped, seed=0)
    assert set(cal).isdisjoint(held) and sorted(cal + held) == list(range(len(shipped)))
    assert (cal, held) == split_halves(shipped, seed=0)
    pairs = lambda idx: {frozenset((shipped[i]["trait_a"], shipped[i]["trait_b"])) for i in idx}  # noqa: E731
    assert pairs(cal) == pairs(held)
    questions = lambda idx: {shipped[i]["question"] for i in idx}  # noqa: E731
    assert questions(cal).isdisjoint(questions(held))  # both replies to one question go to one half


# User files


@pytest.mark.parametrize(
    "bad, field",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a JSON object"),
        ({**GOOD, "label": "warm"}, "'label'"),
        ({k: v for k, v in GOOD.items() if k != "text"}, "'text'"),
        ({**GOOD, "trait_b": "casual"}, "'trait_b'"),
        ({**GOOD, "kind": 3}, "'kind'"),
    ],
)
def test_a_malformed_row_is_a_one_line_error_naming_file_line_and_field(tmp_path, bad, field):
    path = write_rows(tmp_path / "mine.jsonl", [GOOD, bad])
    with pytest.raises(CharbenchError) as err:
        load_labelled(str(path))
    message = str(err.value)
    assert f"{path}:2:" in message and field in message and "\n" not in message


def test_a_user_file_defaults_kind_to_unknown(tmp_path):
    items = load_labelled(str(write_rows(tmp_path / "mine.jsonl", [GOOD, "", {**GOOD, "label": "formal"}])))
    assert [item["kind"] for item in items] == ["unknown", "unknown"]


def test_cli_on_a_bad_file_exits_2_with_one_line(tmp_path):
    path = write_rows(tmp_path / "bad.jsonl", [{**GOOD, "label": "warm"}])
    run = charbench("judge", "validate", "--data", str(path))
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "bad.jsonl:1" in run.stderr and "label" in run.stderr


# Graders


def test_a_grader_that_always_names_the_first_trait_has_full_position_bias_and_half_accuracy(shipped):
    result = validate_grader(grader("first-shown", lambda a, b, reply: f"<answer>{a}</answer>"), shipped[:40])
    assert result["n_items"] == 40 and result["n_judgements"] == 80
    assert result["position_bias"] == 1.0
    assert result["accuracy"] == 0.5 and not result["validated"]


def test_a_grader_that_names_the_label_is_validated(shipped):
    labels = {item["text"]: item["label"] for item in shipped}
    result = validate_grader(grader("oracle", lambda a, b, reply: f"<answer>{labels[reply]}</answer>"), shipped[:40])
    assert result["accuracy"] == 1.0 and result["ci"][0] > THRESHOLD
    # it names the label whatever the order: a position bias of 0.5 would be by construction, so none
    assert result["validated"] and result["position_bias"] is None and result["order_invariant"]
    assert set(result["by_kind"]) <= {"tone", "topic"} and result["data_hash"] == data_hash(shipped[:40])


def test_cli_counts_invalid_grader_answers_by_reason_and_saves_the_result(results, capsys):
    grader("untagged", lambda a, b, reply: f"Probably {a}, I would say.")
    assert main(["judge", "validate", "--grader", "untagged/judge", "--limit", "4"]) == 0
    out = capsys.readouterr().out
    assert "8 judgements" in out and "no_answer_tag 8" in out and "UNVALIDATED (interval not above 0.75)" in out
    saved = saved_validation("untagged/judge")
    assert saved["invalid"]["no_answer_tag"] == 8 and saved["accuracy"] == 0.0 and saved["n_items"] == 4
    assert (results / "judges" / "untagged-judge.json").is_file()


def test_an_unknown_grader_is_a_user_error(shipped):
    with pytest.raises(CharbenchError, match="could not be loaded"):
        validate_grader("no-such-provider/model", shipped[:2])


def test_saved_validation_is_none_for_a_judge_never_validated(results):
    assert saved_validation("never-validated") is None
    save_validation({"judge": "a/b c", "accuracy": 0.8})
    assert saved_validation("a/b c") == {"judge": "a/b c", "accuracy": 0.8}


# The embedded judge


@pytest.mark.slow
def test_embedded_judge_accuracy_is_reported_on_the_held_out_half_of_the_shipped_set(shipped):
    """Its variant and prompt weight were chosen on the calibration half: the logged figure is the other's."""
    result = embedded_validation(embedded.DEFAULT_VARIANT)
    assert result is embedded_validation(embedded.DEFAULT_VARIANT)  # computed once per process
    _, held = split_halves(shipped, seed=0)
    assert 0 < result["accuracy"] < 1 and result["data"] == "shipped, held-out half"
    assert result["n_items"] == len(held) and result["n_judgements"] == 2 * len(held)
    # Wilson over items: as wide as n_items allows, not as narrow as 2 x n_items would pretend
    assert result["ci"] == pytest.approx(list(wilson_interval(round(result["accuracy"] * len(held)), len(held))))
    assert result["position_bias"] is None and result["order_invariant"]  # order-invariant by construction
    assert result["judge"] == embedded.variant_name(embedded.DEFAULT_VARIANT) and "embedded" in result["judge"]
    assert result["data_hash"] == data_hash([shipped[i] for i in held]) and result["validated"] == (
        min(result["ci"][0], result["ci_bootstrap"][0]) > THRESHOLD
    )


@pytest.mark.slow
def test_the_default_variant_was_chosen_on_calibration_and_is_not_worse_than_the_gloss_on_held_out(shipped):
    comparison = compare_variants(shipped, seed=0)
    assert comparison["chosen"] == embedded.DEFAULT_VARIANT
    assert comparison["prompt_weight"] == embedded.PROMPT_WEIGHT
    held_out = comparison["variants"]
    assert held_out[embedded.DEFAULT_VARIANT]["accuracy"] >= held_out["gloss"]["accuracy"]
    assert held_out[embedded.DEFAULT_VARIANT]["n_items"] == comparison["held_out_items"]
    abstain = held_out[f"{embedded.DEFAULT_VARIANT}+abstain"]
    assert abstain["invalid"]["abstain"] == abstain["n_judgements"] - abstain["valid"]


def test_similarity_choice_without_a_prompt_is_the_gloss_judge_of_old(shipped):
    item = shipped[0]
    candidates = {item["trait_a"]: item["trait_a"], item["trait_b"]: item["trait_b"]}
    assert embedded.similarity_choice(item["text"], candidates) == embedded.similarity_choice(
        item["text"], candidates, variant="gloss"
    )
    assert embedded.resolve_variant(None, None) == "gloss"
    assert embedded.resolve_variant(None, "How do I boil an egg?") == embedded.DEFAULT_VARIANT
    assert embedded.variant_name("gloss") == embedded.EMBEDDED_SIMILARITY == "embedded-similarity"
