"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def publish(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("publish is not implemented yet")
