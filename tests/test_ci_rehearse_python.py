"""setup-python's cache inputs pass or fail here as actions/setup-python@v5 does."""

from __future__ import annotations

import re

import pytest

from multiarch_tasks.ci.rehearse.python import check_cache_inputs
from multiarch_tasks.ci.rehearse.steps import RehearsalError


@pytest.mark.parametrize(
    ("files", "inputs", "keyed_on"),
    [
        ([], {}, None),  # no cache input: nothing is checked
        (["requirements.txt"], {"cache": "pip"}, "requirements.txt"),
        (["sub/requirements.txt"], {"cache": "pip"}, "sub/requirements.txt"),
        # pip falls back to **/pyproject.toml when its patterns match nothing
        (["tools/pyproject.toml"], {"cache": "pip", "cache-dependency-path": "req/*.txt"},
         "tools/pyproject.toml"),
        (["a.txt", "b.txt"], {"cache": "pip", "cache-dependency-path": "*.txt\n!b.txt"}, "a.txt"),
        (["Pipfile.lock"], {"cache": "pipenv"}, "Pipfile.lock"),
    ],
)  # fmt: skip
def test_cache_inputs_with_a_file_to_key_on_pass(tmp_path, files, inputs, keyed_on):
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    note = check_cache_inputs(inputs, tmp_path)
    assert note == (
        "no cache input" if keyed_on is None else f"cache {inputs['cache']} keyed on {keyed_on}"
    )


@pytest.mark.parametrize(
    ("files", "inputs", "message"),
    [
        # the generated workflow in a Go project (issue 20)
        (["go.mod"], {"cache": "pip", "cache-dependency-path": "pyproject.toml"},
         ("No file in {ws} matched to [pyproject.toml or **/pyproject.toml], make sure you"
          " have checked out the target repository")),
        ([], {"cache": "pip"},
         "No file in {ws} matched to [**/requirements.txt or **/pyproject.toml]"),
        (["a\\b"], {"cache": "pip", "cache-dependency-path": "x.txt\ny.txt"},
         "No file in {ws} matched to [x.txt,y.txt or **/pyproject.toml]"),
        # no pyproject.toml fallback for the other managers
        (["pyproject.toml"], {"cache": "pipenv"}, "No file in {ws} matched to [**/Pipfile.lock],"),
        ([], {"cache": "npm"}, "Caching for 'npm' is not supported"),
    ],
)  # fmt: skip
def test_cache_inputs_fail_where_setup_python_fails(tmp_path, files, inputs, message):
    for name in files:
        (tmp_path / name).write_text("x")
    expected = "actions/setup-python: " + message.format(ws=tmp_path)
    with pytest.raises(RehearsalError, match=re.escape(expected)):
        check_cache_inputs(inputs, tmp_path)
