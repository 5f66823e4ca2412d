"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def builder_create(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("builder_create is not implemented yet")
