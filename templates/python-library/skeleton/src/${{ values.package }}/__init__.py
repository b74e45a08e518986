"""${{ values.description }}"""
from __future__ import annotations

__all__ = ["__version__", "greet"]
__version__ = "0.1.0"


def greet(name: str) -> str:
    """A first function to replace: says hello to `name`."""
    if not name:
        raise ValueError("name must not be empty")
    return f"Hello, {name}!"
