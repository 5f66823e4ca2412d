"""Settings: one frozen object per task, resolved once.

Defaults < pyproject.toml < invoke config < flags; value coercion, config files, tag rules
and secret specs. May import :mod:`multiarch_tasks.model` only.

- ``settings``: the layering into one ``Settings`` (every public name is importable here).
- ``schema``: the ``Settings`` and ``Node`` types, defaults and the enumerated choices.
- ``keys``: the key table: each key's coercion, the aliases, did-you-mean for typos.
- ``sources``: pyproject.toml, ``INVOKE_MULTIARCH_*`` variables, invoke files by line.
- ``coerce``: config values to typed values; ``files``: where a key is written in a file.
- ``tagrules``: the ``tag_rules`` setting parsed; ``secrets``: which values to hide.
"""
