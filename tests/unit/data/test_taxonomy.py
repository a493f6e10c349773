"""data.taxonomy: the shipped contract, its content hash, and the errors for broken files."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from data.taxonomy import TaskKind, TaxonomyError, load_taxonomy, load_taxonomy_file
from secondlook.resources import config_path

SHIPPED = config_path("taxonomy.yaml")


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def dump(tmp_path: Path, content: dict, name: str = "taxonomy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def task(content: dict, name: str) -> dict:
    return next(t for t in content["tasks"] if t["name"] == name)


def test_shipped_taxonomy_loads_with_the_required_classes():
    taxonomy = load_taxonomy()
    assert taxonomy is load_taxonomy()  # loaded once per process
    assert len(taxonomy.classes("hardware_type")) >= 5
    assert len(taxonomy.classes("hardware_finish")) >= 3
    assert len(taxonomy.classes("stamp_type")) >= 4
    assert taxonomy.classes("condition_grade") == ("A", "B", "C", "D")
    assert taxonomy.task("condition_grade").kind is TaskKind.ordinal
    assert taxonomy.classes("defects") == ("scratch", "scuff", "stain", "tear", "tarnish")
    assert taxonomy.classes("authenticity") == ("authentic", "counterfeit")
    assert taxonomy.classes("view") == taxonomy.view_names
    assert len(taxonomy.content_hash) == 64
    assert taxonomy.describe() == {
        "taxonomy_version": taxonomy.version,
        "taxonomy_hash": taxonomy.content_hash,
    }


def test_lookups():
    taxonomy = load_taxonomy()
    assert taxonomy.applies("hardware_finish", "hardware")
    assert not taxonomy.applies("hardware_finish", "stamp")
    assert "stamp_depth" in taxonomy.cues_visible_in("stamp")
    assert taxonomy.task("condition_grade").index("C") == 2
    with pytest.raises(KeyError, match="brass"):
        taxonomy.task("hardware_type").index("brass")
    with pytest.raises(KeyError, match="no task 'colour'"):
        taxonomy.task("colour")
    assert taxonomy.as_enum("condition_grade")("B").value == "B"


def test_hash_stable_across_loads():
    assert load_taxonomy_file(SHIPPED).content_hash == load_taxonomy_file(SHIPPED).content_hash
    assert load_taxonomy_file(SHIPPED).content_hash == load_taxonomy().content_hash


def test_hash_ignores_comments_and_layout(tmp_path, raw):
    text = SHIPPED.read_text(encoding="utf-8")
    lines = [line + "   # noted" if line.endswith("]") else line for line in text.splitlines()]
    relaid = "# a new leading comment\n\n" + "\n\n".join(lines).replace("[A, B, C, D]", "[ A,B,  C , D ]")
    assert relaid != text
    (tmp_path / "relaid.yaml").write_text(relaid, encoding="utf-8")
    # and a completely different layout of the same content: flow style, other key order
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump(raw, default_flow_style=True, sort_keys=True))
    shipped = load_taxonomy_file(SHIPPED).content_hash
    assert load_taxonomy_file(tmp_path / "relaid.yaml").content_hash == shipped
    assert load_taxonomy_file(tmp_path / "flow.yaml").content_hash == shipped


def test_hash_changes_with_a_class(tmp_path, raw):
    changed = copy.deepcopy(raw)
    task(changed, "hardware_finish")["classes"].append("black_chrome")
    renamed = copy.deepcopy(raw)
    task(renamed, "defects")["classes"][0] = "scrape"
    reordered = copy.deepcopy(raw)
    task(reordered, "condition_grade")["classes"].reverse()  # order is meaning: indices, ordinal ranks
    hashes = {
        load_taxonomy_file(dump(tmp_path, c, f"{i}.yaml")).content_hash
        for i, c in enumerate([raw, changed, renamed, reordered])
    }
    assert len(hashes) == 4


def _duplicate_class(content):
    task(content, "stamp_type")["classes"].append("heat_stamp")


def _unknown_view(content):
    task(content, "hardware_type")["applies_to"].append("closeup")


def _missing_task(content):
    content["tasks"] = [t for t in content["tasks"] if t["name"] != "stamp_type"]


def _extra_task_key(content):
    task(content, "defects")["colour"] = "red"


def _extra_top_key(content):
    content["owner"] = "someone"


def _cue_in_unknown_view(content):
    content["counterfeit_cues"][0]["visible_in"] = ["underside"]


def _wrong_authenticity(content):
    task(content, "authenticity")["classes"] = ["genuine", "fake"]


def _views_out_of_order(content):
    task(content, "view")["classes"].reverse()


def _one_class(content):
    task(content, "category")["classes"] = ["tote"]


def _unknown_kind(content):
    task(content, "category")["kind"] = "regression"


def _no_version(content):
    del content["version"]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (_duplicate_class, "task 'stamp_type' lists a class twice"),
        (_unknown_view, "applies to unknown views ['closeup']"),
        (_missing_task, "required tasks missing: stamp_type"),
        (_extra_task_key, "colour: Extra inputs are not permitted"),
        (_extra_top_key, "owner: Extra inputs are not permitted"),
        (_cue_in_unknown_view, "visible in unknown views ['underside']"),
        (_wrong_authenticity, "authenticity"),
        (_views_out_of_order, "the classes of task 'view' must be the views"),
        (_one_class, "classes"),
        (_unknown_kind, "kind"),
        (_no_version, "version"),
    ],
)
def test_invalid_taxonomy_names_the_problem(tmp_path, raw, breakage, expected):
    breakage(raw)
    path = dump(tmp_path, raw)
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy_file(path)
    message = str(info.value)
    assert expected in message
    assert str(path) in message


def test_not_yaml(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text("version: '1'\ntasks: [unclosed\n", encoding="utf-8")
    with pytest.raises(TaxonomyError, match="not valid YAML"):
        load_taxonomy_file(path)


@pytest.mark.parametrize("text", ["- a\n- list\n", "just a string\n", ""])
def test_not_a_mapping(tmp_path, text):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TaxonomyError, match="expected a mapping"):
        load_taxonomy_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(TaxonomyError, match=r"taxonomy file not found: .*absent\.yaml"):
        load_taxonomy_file(tmp_path / "absent.yaml")
