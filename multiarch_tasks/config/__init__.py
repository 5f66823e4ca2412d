"""Settings: one frozen object per task, resolved from defaults, pyproject.toml, invoke
config and flags; value coercion, config files, tag rules and secret specs.

May import :mod:`multiarch_tasks.model` only.
"""
