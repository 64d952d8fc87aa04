import json
import subprocess
import sys

import pytest

from personas import PersonaError, list_personas, load_persona, load_persona_file

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


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "charbench.cli", *args], capture_output=True, text=True, env=env)


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
