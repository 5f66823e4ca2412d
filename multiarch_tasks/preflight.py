"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def preflight(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("preflight is not implemented yet")
