"""Shape checks shared by every part of a configuration: each mistake names its key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from manireports.errors import InputError

CONFIG_KEYS = ("source", "columns", "filters", "group_by", "aggregates", "sort", "limit")


def describe(value: Any) -> str:
    """A value as an error message names it: objects and lists by what they are."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def list_of(cfg: Mapping[str, Any], key: str) -> list[Any]:
    value = cfg.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{key} must be a list, not {describe(value)}.")
    return value


def label_of(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise InputError(f"{where}: label must be text of 1 to 255 characters.")
    return value
