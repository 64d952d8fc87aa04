import json
import os

import pytest

from personas import PersonaError, list_personas, load_persona, load_persona_file
from tests.helpers import charbench

EXPECTED = {
    "sarcasm",
    "humor",
    "remorse",
    "goodness",
    "loving",
    "misalignment",
    "nonchalance",
    "impulsiveness",
    "sycophancy",
    "mathematical",
    "poeticism",
}

VALID = {
    "name": "tester",
    "description": "A test persona.",
    "traits": [
        {"statement": f"I do thing {i}.", "questions": [f"Question {i}.{j}?" for j in range(5)]} for i in range(10)
    ],
}


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_all_shipped_personas_validate_with_enough_content():
    personas = list_personas()
    assert set(personas) >= EXPECTED
    for persona in personas.values():
        assert len(persona.traits) >= 10
        assert all(len(t.questions) >= 5 for t in persona.traits)


def test_every_shipped_persona_names_target_traits_from_the_vocabulary():
    from bench.revealed_prefs.dataset import load_traits

    vocabulary = set(load_traits())
    for persona in list_personas().values():
        if persona.name in EXPECTED:
            assert len(persona.target_traits) >= 3, persona.name
        assert set(persona.target_traits) <= vocabulary, persona.name


def test_a_target_trait_outside_the_vocabulary_is_one_line_with_a_suggestion(tmp_path):
    path = write(tmp_path / "t.json", {**VALID, "target_traits": ["poetic", "poetc"]})
    with pytest.raises(PersonaError, match=r"field 'target_traits.1'.*'poetc'.*did you mean 'poetic'") as err:
        load_persona_file(path)
    assert "\n" not in str(err.value)
    path = write(tmp_path / "t.json", {**VALID, "target_traits": ["poetic", "poetic"]})
    with pytest.raises(PersonaError, match="target_traits.*twice"):
        load_persona_file(path)


def test_valid_user_file_loads(tmp_path):
    assert load_persona_file(write(tmp_path / "t.json", VALID)).name == "tester"


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda d: d.pop("description"), "field 'description'.*add it"),
        (lambda d: d.update(traits=d["traits"][:3]), "field 'traits'.*add more entries"),
        (lambda d: d["traits"][0].update(statement="  "), r"field 'traits.0.statement'.*must not be empty"),
        (lambda d: d["traits"][2]["questions"].__setitem__(1, ""), r"traits.2.questions.1"),
        (lambda d: d.update(name="Bad Name"), "field 'name'"),
        (lambda d: d.update(colour="red"), "field 'colour'.*remove it"),
    ],
)
def test_each_malformation_is_rejected_with_its_field(tmp_path, mutate, expected):
    data = json.loads(json.dumps(VALID))
    mutate(data)
    path = write(tmp_path / "bad.json", data)
    with pytest.raises(PersonaError, match=expected) as err:
        load_persona_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_bad_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ntraits: [unclosed\n")
    with pytest.raises(PersonaError, match=r"bad.yaml: not valid YAML \(line"):
        load_persona_file(path)


def test_bad_json_is_rejected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    with pytest.raises(PersonaError, match="not valid JSON"):
        load_persona_file(path)


def test_duplicate_name_in_user_dir_is_rejected(tmp_path, monkeypatch):
    write(tmp_path / "dup.json", {**VALID, "name": "sarcasm"})
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    with pytest.raises(PersonaError, match="duplicate persona name 'sarcasm'"):
        list_personas()


def test_user_dir_persona_is_found_by_name(tmp_path, monkeypatch):
    write(tmp_path / "tester.json", VALID)
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    assert load_persona("tester").description == "A test persona."


def test_unknown_persona_lists_the_choices():
    with pytest.raises(PersonaError, match="unknown persona 'pirate'.*sarcasm"):
        load_persona("pirate")


run_cli = charbench  # in-process (tests.helpers.charbench)


def test_cli_list_shows_the_eleven():
    result = run_cli("personas", "list")
    assert result.returncode == 0
    assert {line.split()[0] for line in result.stdout.splitlines()} >= EXPECTED


def test_cli_unknown_persona_exits_2_with_one_line():
    result = run_cli("personas", "show", "pirate")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_cli_validate_bad_file_exits_2(tmp_path):
    path = write(tmp_path / "bad.json", {**VALID, "traits": []})
    result = run_cli("personas", "validate", str(path))
    assert result.returncode == 2 and "bad.json" in result.stderr and "Traceback" not in result.stderr


def test_cli_validate_good_file_exits_0(tmp_path):
    assert run_cli("personas", "validate", str(write(tmp_path / "t.json", VALID))).returncode == 0


# ---------------------------------------------------------------- Open Character Training's layouts
# Our own fixtures in the reference's two layouts (no text of theirs).

HAND_WRITTEN = [
    {
        "trait": f"I notice small kindnesses and mention them ({i}).",
        "questions": [f"What did you see today {i}.{j}?" for j in range(5)],
    }
    for i in range(10)
]
FEW_SHOT = [
    {
        "trait": f"I answer with patient curiosity ({i}).",
        "questions": [f"Why is the sky blue {i}?", f"How do tides work {i}?"],
        "additional_questions": [f"What is rust {i}.{j}?" for j in range(3)],
    }
    for i in range(10)
]


def reference_files(tmp_path):
    hand = tmp_path / "kindly.txt"
    hand.write_text(json.dumps(HAND_WRITTEN, indent=4))
    few = tmp_path / "curious.jsonl"
    few.write_text("".join(json.dumps(item) + "\n" for item in FEW_SHOT))
    return hand, few


def test_reference_layouts_load_with_name_description_and_questions(tmp_path):
    hand, few = reference_files(tmp_path)
    kindly, curious = load_persona_file(hand), load_persona_file(few)
    assert kindly.name == "oct.kindly" and kindly.description == HAND_WRITTEN[0]["trait"]
    assert kindly.traits[3].statement == HAND_WRITTEN[3]["trait"] and len(kindly.traits[3].questions) == 5
    assert curious.name == "oct.curious" and [len(t.questions) for t in curious.traits] == [5] * 10
    assert curious.traits[0].questions[2] == "What is rust 0.0?"  # additional questions kept, after the others
    named = load_persona_file(hand, name="kind", description="Notices kindness.")
    assert (named.name, named.description) == ("kind", "Notices kindness.")


def test_reference_files_in_a_persona_dir_are_found_by_name(tmp_path, monkeypatch):
    reference_files(tmp_path)
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    assert {"oct.kindly", "oct.curious"} <= set(list_personas())
    assert load_persona("oct.curious").traits[0].statement == FEW_SHOT[0]["trait"]


def test_reference_minimums_apply_with_one_line(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text(json.dumps([{"trait": "I am brief."}] * 10))  # no questions, as some reference files
    with pytest.raises(PersonaError, match=r"short.txt: field 'traits.0.questions'"):
        load_persona_file(short)
    few = tmp_path / "few.txt"
    few.write_text(json.dumps(HAND_WRITTEN[:3]))
    with pytest.raises(PersonaError, match=r"few.txt: field 'traits'.*at least 10"):
        load_persona_file(few)


def test_cli_import_writes_equivalent_yaml(tmp_path):
    hand, _ = reference_files(tmp_path)
    out = tmp_path / "kindly.yaml"
    result = charbench("personas", "import", str(hand), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert load_persona_file(out) == load_persona_file(hand)
    again = charbench("personas", "import", str(hand), "--out", str(out))
    assert again.returncode == 2 and "exists" in again.stderr
    shown = charbench("personas", "show", str(hand))
    assert shown.returncode == 0 and HAND_WRITTEN[0]["trait"] in shown.stdout


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("binary.yaml", b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not UTF-8"),
        ("empty.yaml", b"", "empty file"),
        ("blank.txt", b"  \n", "empty file"),
        ("folder", None, "is a directory"),
        ("bad.jsonl", b'{"trait": "x"}\n{oops\n', "JSONL (line 2)"),
        ("scalar.json", b"42", "expected a mapping"),
    ],
)
def test_cli_malformed_persona_files_exit_2_with_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = charbench("personas", "validate", str(path))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unreadable_persona_file_is_one_line(tmp_path, monkeypatch):
    import pathlib

    path = write(tmp_path / "locked.json", VALID)

    def denied(self):  # what a file without read permission gives a non-root user
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(pathlib.Path, "read_bytes", denied)
    with pytest.raises(PersonaError, match="locked.json: cannot be read \\(Permission denied\\)"):
        load_persona_file(path)


def test_reference_persona_from_a_persona_dir_scores_as_a_prompted_model(tmp_path, monkeypatch):
    from inspect_ai import eval

    reference_files(tmp_path)
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    for name in ("oct.kindly", "oct.curious"):
        log = eval(
            "bench/revealed_prefs",
            model=f"charbench/prompt/{name}/smollm2-135m",
            task_args={"n": 2, "max_tokens": 8},
            log_dir=str(tmp_path / "logs"),
            display="none",
        )[0]
        assert log.status == "success" and len(log.samples) == 2, log.error


def test_other_txt_files_in_a_persona_dir_are_skipped_not_fatal(tmp_path, monkeypatch, caplog):
    reference_files(tmp_path)
    (tmp_path / "README.txt").write_text("These are my personas.\n")
    (tmp_path / "notes.jsonl").write_text('{"note": 1}\n')
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    assert {"oct.kindly", "oct.curious"} <= set(list_personas())
    assert "skipping README.txt" in caplog.text and "skipping notes.jsonl" in caplog.text
    (tmp_path / "broken.txt").write_text(json.dumps([{"trait": "I am only one trait."}]))
    with pytest.raises(PersonaError, match="broken.txt"):  # a trait list is a constitution: validated in full
        list_personas()


# ---------------------------------------------------------------- the reference's folder beside ours
# Its constitutions/hand-written/ holds the same 11 names as ours, plus a blank template.txt. The
# fixture is that layout with made-up text: what matters is the names and the file format.


def reference_folder(tmp_path):
    folder = tmp_path / "hand-written"
    folder.mkdir()
    for name in EXPECTED:
        items = [
            {"trait": f"I am {name} in way {i}.", "questions": [f"A {name} question {i}.{j}?" for j in range(5)]}
            for i in range(10)
        ]
        (folder / f"{name}.txt").write_text(json.dumps(items, indent=4))
    (folder / "template.txt").write_text(json.dumps([{"trait": "", "questions": [""] * 5}] * 10, indent=4))
    return folder


def test_the_references_eleven_load_under_oct_beside_ours_with_target_traits(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(reference_folder(tmp_path)))
    personas = list_personas()
    assert set(personas) >= EXPECTED | {f"oct.{name}" for name in EXPECTED}
    ours, theirs = load_persona("loving"), load_persona("oct.loving")
    assert ours.name == "loving" and theirs.name == "oct.loving"
    assert theirs.traits[0].statement == "I am loving in way 0." and ours.statements != theirs.statements
    for name in EXPECTED:  # the same persona by the same name: our target traits are reused
        assert personas[f"oct.{name}"].target_traits == personas[name].target_traits != [], name


def test_the_reference_target_traits_file_names_its_eleven_personas_in_the_vocabulary():
    import yaml

    from bench.revealed_prefs.dataset import load_traits
    from personas.loader import REFERENCE_TARGETS

    mapping = yaml.safe_load(REFERENCE_TARGETS.read_text())
    assert set(mapping) == {f"oct.{name}" for name in EXPECTED}
    assert all(set(words) <= set(load_traits()) for words in mapping.values())


def test_the_references_blank_template_is_skipped_quietly(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(reference_folder(tmp_path)))
    assert "oct.template" not in list_personas()
    assert "template.txt" not in caplog.text  # every command reads the folder: a blank form is not news


def test_a_stem_without_its_namespace_is_unknown_and_the_error_names_the_qualified_one(tmp_path, monkeypatch):
    reference_files(tmp_path)
    monkeypatch.setenv("CHARBENCH_PERSONAS", str(tmp_path))
    with pytest.raises(PersonaError, match=r"unknown persona 'kindly': did you mean 'oct.kindly'\?") as err:
        load_persona("kindly")
    assert "\n" not in str(err.value)
    with pytest.raises(PersonaError, match=r"'oct/kindly'.*write oct.kindly"):
        load_persona("oct/kindly")


def test_a_namespaced_persona_is_one_part_of_a_model_name():
    from bench.models.specs import format_model_name, parse_model_name

    spec = parse_model_name("prompt/oct.loving/google/gemma-3-4b-it")
    assert (spec.persona, spec.base) == ("oct.loving", "google/gemma-3-4b-it")
    assert format_model_name(spec) == "charbench/prompt/oct.loving/google/gemma-3-4b-it"


def test_cli_lists_and_shows_ours_and_the_references_side_by_side(tmp_path):

    env = {**os.environ, "CHARBENCH_PERSONAS": str(reference_folder(tmp_path))}
    listed = run_cli("personas", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    names = {line.split()[0] for line in listed.stdout.splitlines()}
    assert names >= EXPECTED | {f"oct.{name}" for name in EXPECTED}
    shown = run_cli("personas", "show", "oct.sarcasm", env=env)
    assert shown.returncode == 0 and "I am sarcasm in way 0." in shown.stdout
    unknown = run_cli("personas", "show", "oct.pirate", env=env)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
