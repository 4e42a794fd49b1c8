"""Helpers shared by test folders (importable as ``tests_helpers``: conftest puts tests/ on the path)."""

from compression.helpers import small_mnist, state_equal  # noqa: F401
