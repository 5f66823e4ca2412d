"""What the quick answers of ``multiarch`` load, and that the package's lazy names resolve.

The subprocess runs the real console script's ``main`` in a fresh interpreter, so the test
suite's own imports hide nothing; the modules it holds are reported at exit by name, so
the check holds whether or not urllib3 or plumbum are installed. ``import invoke`` itself
loads PyYAML when it is installed (its vendored YAML takes PyYAML's C loader), so
``--help``, which is invoke's, may hold ``yaml`` only as far as a bare ``import invoke``
does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import multiarch_tasks
from multiarch_tasks import api
from multiarch_tasks._version import __version__

HEAVY = ("urllib3", "plumbum", "yaml", "rich")


def _loaded(code: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``code`` in a fresh interpreter; return it and which of HEAVY and invoke it held."""
    probe = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(m for m in"
        f" {(*HEAVY, 'invoke')!r} if m in sys.modules)), file=sys.stderr))\n"
        f"{code}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    return done, json.loads(done.stderr.splitlines()[-1])


def _script(*argv: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the console script's ``main`` with ``argv``; return it and what it loaded."""
    return _loaded(
        f"sys.argv = ['multiarch', *{list(argv)!r}]\nfrom multiarch_tasks.cli import main\nmain()"
    )


def test_version_loads_nothing_heavy_nor_invoke_and_help_only_what_invoke_loads() -> None:
    version, loaded = _script("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"multiarch {__version__}\n"
    assert loaded == []  # not even invoke: the static string answers
    helped, loaded = _script("--help")
    assert helped.returncode == 0, helped.stderr
    assert "Usage: multiarch [--core-opts]" in helped.stdout
    _, by_invoke = _loaded("import invoke")
    assert [m for m in loaded if m in HEAVY] == [m for m in by_invoke if m in HEAVY]
    assert "urllib3" not in loaded
    assert "plumbum" not in loaded
    assert "rich" not in loaded  # the live view's library: only when the view is shown


def test_the_package_and_api_names_resolve() -> None:
    from multiarch_tasks import ImageRef, Platform, Settings, multiarch  # noqa: PLC0415

    assert Platform.parse("linux/arm64").architecture == "arm64"
    assert str(ImageRef.parse("r.example/a/b:1")) == "r.example/a/b:1"
    assert Settings is api.Settings
    assert multiarch.name == "multiarch"
    assert multiarch_tasks.__version__ == __version__
    for name in multiarch_tasks.__all__:
        assert getattr(multiarch_tasks, name) is not None, name
    for name in api.__all__:
        assert callable(getattr(api, name)), name
