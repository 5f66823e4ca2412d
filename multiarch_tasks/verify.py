"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def verify(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("verify is not implemented yet")


def inspect(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("inspect is not implemented yet")
