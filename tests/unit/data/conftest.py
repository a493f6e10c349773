"""Fixtures of the data tests: `write` (a manifest on disk) for the data.validate tests."""

from tests.unit.data.validate_helpers import write

__all__ = ["write"]
