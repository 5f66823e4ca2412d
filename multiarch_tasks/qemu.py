"""Placeholder: being written (see the issue)."""

from typing import Any

from multiarch_tasks.errors import MultiarchError


def qemu_setup(*args: Any, **kwargs: Any) -> Any:
    """Not written yet."""
    raise MultiarchError("qemu_setup is not implemented yet")
