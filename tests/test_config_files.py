"""Finding a key's line and a number as written in YAML, JSON and pyproject text."""

from __future__ import annotations

from pathlib import Path

import pytest

from multiarch_tasks.config.files import (
    find_toml_key,
    find_yaml_key,
    find_yaml_section,
    project_config_file,
    spelled_number,
)

YAML = """\
# comment
run:
  echo: true
  jobs: 99
multiarch:
  image: r.example/a/b
  tags:
  - v1
  - 1.10
  'jobs': 1.7
  build_args: {GO_VERSION: 1.20, B: 2}
other:
  retries: 5
"""


@pytest.mark.parametrize(
    ("key", "line", "value"),
    [
        ("image", 6, " r.example/a/b"),
        ("tags", 7, "\n  - v1\n  - 1.10"),
        ("jobs", 10, " 1.7"),
        ("build_args", 11, " {GO_VERSION: 1.20, B: 2}"),
    ],
)
def test_find_yaml_key_in_block_style(tmp_path: Path, key: str, line: int, value: str) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text(YAML)
    found = find_yaml_key(path, "multiarch", key)
    assert found is not None
    assert (found.line, found.value_text) == (line, value)


def test_find_yaml_key_stays_inside_the_section(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text(YAML)
    assert find_yaml_key(path, "multiarch", "retries") is None  # only under `other:`
    assert find_yaml_key(path, "multiarch", "echo") is None  # only under `run:`
    assert find_yaml_key(path, "nothere", "image") is None
    assert find_yaml_key(tmp_path / "missing.yaml", "multiarch", "image") is None


def test_find_yaml_key_in_flow_style_and_json(tmp_path: Path) -> None:
    path = tmp_path / "invoke.json"
    path.write_text('{\n  "run": {"echo": true},\n  "multiarch": {"jobs": 1.7,\n "tags": [1.10]}}')
    found = find_yaml_key(path, "multiarch", "tags")
    assert found is not None
    assert found.line == 4
    assert spelled_number(found.value_text, 1.1) == "1.10"
    flow = tmp_path / "invoke.yaml"
    flow.write_text("multiarch: {image: r/x, jobs: 1.7}\n")
    found = find_yaml_key(flow, "multiarch", "jobs")
    assert found is not None
    assert found.line == 1


def test_find_yaml_section(tmp_path: Path) -> None:
    path = tmp_path / "invoke.yaml"
    path.write_text(YAML)
    found = find_yaml_section(path, "multiarch")
    assert found is not None
    assert found.line == 5


def test_find_toml_key(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[project]\ntags = "no"\n\n[tool.multiarch-tasks]\nimage = "r/x"\n'
        'build-args = { V = 1.20 }\ntags = [\n  "a",\n  1.10,\n]\n\n[tool.other]\njobs = 1\n'
    )
    tags = find_toml_key(path, "tool.multiarch-tasks", "tags")
    assert tags is not None
    assert tags.line == 7
    assert spelled_number(tags.value_text, 1.1) == "1.10"
    build_args = find_toml_key(path, "tool.multiarch-tasks", "build_args")  # written build-args
    assert build_args is not None
    assert build_args.line == 6
    assert spelled_number(build_args.value_text, 1.2) == "1.20"
    assert find_toml_key(path, "tool.multiarch-tasks", "jobs") is None


@pytest.mark.parametrize(
    ("text", "number", "spelled"),
    [
        (" [1.10]", 1.1, "1.10"),
        (" [v1.10, 1.10]", 1.1, "1.10"),  # not the digits inside v1.10
        (" 1_000.50", 1000.5, "1_000.50"),
        (" 1e3", 1000.0, "1e3"),
        (" 2.5", 1.1, None),
        ("", 1.1, None),
    ],
)
def test_spelled_number(text: str, number: float, spelled: str | None) -> None:
    assert spelled_number(text, number) == spelled


def test_project_config_file_follows_invokes_order(tmp_path: Path) -> None:
    assert project_config_file(tmp_path) is None
    (tmp_path / "invoke.json").write_text("{}")
    assert project_config_file(tmp_path) == tmp_path / "invoke.json"
    (tmp_path / "invoke.yaml").write_text("{}")
    assert project_config_file(tmp_path) == tmp_path / "invoke.yaml"
