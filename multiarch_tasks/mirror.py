"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def mirror(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("mirror is not implemented yet")
