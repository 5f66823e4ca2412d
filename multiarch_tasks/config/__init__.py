"""Settings: one frozen object per task, resolved once.

Defaults < pyproject.toml < invoke config < flags; value coercion, config files, tag rules
and secret specs. May import :mod:`multiarch_tasks.model` only.
"""
