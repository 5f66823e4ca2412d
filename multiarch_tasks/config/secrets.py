"""Secrets in a build: which build args look secret, and which values the runner must hide.

Build args end up in the image history (``docker history`` shows ``RUN |1 PASSWORD=...``)
and in provenance attestations; BuildKit's ``--secret`` mounts do not. So a secret-looking
build arg gets a warning naming the ``secrets`` form, and both kinds of values are handed to
:meth:`~multiarch_tasks.engine.runner.Runner.with_secrets` (through
:func:`multiarch_tasks.steps.build.secret_runner`) so nothing printed shows them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from multiarch_tasks.config.settings import Settings
from multiarch_tasks.model.redaction import looks_secret

_MIN_LINE = 8


def secret_build_args(settings: Settings) -> list[str]:
    """Names of the build args that look like secrets (``API_TOKEN``, ``DB_PASSWORD``)."""
    return [name for name in settings.build_args if looks_secret(name)]


def secret_warnings(settings: Settings) -> list[str]:
    """One warning line per secret-looking build arg, naming the ``secrets`` form instead."""
    return [
        f"warning: build arg {name} looks like a secret; build args are recorded in the image"
        f" history and provenance. Pass it as a build secret instead: secrets:"
        f' ["id={name},env={name}"] (buildx --secret id={name},env={name}), read in the'
        f" Dockerfile with RUN --mount=type=secret,id={name}"
        for name in secret_build_args(settings)
    ]


def secret_spec(spec: str) -> dict[str, str]:
    """A buildx ``--secret`` spec as its fields: ``id=x,env=VAR`` -> ``{id: x, env: VAR}``.

    buildx's own reading: ``src`` is an alias of ``source``; with ``type=env`` the source
    names an env var; with neither ``src`` nor ``env`` the env var named like the id is used.
    """
    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        fields[key.strip().lower()] = value.strip()
    if "src" in fields:
        fields.setdefault("source", fields.pop("src"))
    if fields.get("type") == "env" and "env" not in fields and "source" in fields:
        fields["env"] = fields.pop("source")
    if "env" not in fields and "source" not in fields and fields.get("id"):
        fields["env"] = fields["id"]
    return fields


def _secret_value(spec: str, environ: Mapping[str, str]) -> str:
    fields = secret_spec(spec)
    if "source" in fields:
        try:
            return Path(fields["source"]).expanduser().read_text(errors="replace").strip()
        except OSError:
            return ""  # buildx itself reports the missing file
    return environ.get(fields.get("env", ""), "").strip()


def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Every value the runner must hide: secret-looking build args and ``secrets`` contents.

    A multi-line secret (a key file) is also hidden line by line, since commands print it
    that way (lines shorter than 8 characters, such as ``}``, are no secret on their own).
    """
    env = os.environ if environ is None else environ
    found = [settings.build_args[name] for name in secret_build_args(settings)]
    found += [_secret_value(spec, env) for spec in settings.secrets]
    out: list[str] = []
    for value in found:
        out.append(value.strip())
        lines = [line.strip() for line in value.splitlines()]
        if len(lines) > 1:
            out += [line for line in lines if len(line) >= _MIN_LINE]
    return tuple(dict.fromkeys(v for v in out if v))
