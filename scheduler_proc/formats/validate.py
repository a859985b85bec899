"""The one validator every decoder reads through: typed values, or UnreadableData naming the thing,
the bad value and the fix.

Whatever crosses a process boundary or sits on disk may be truncated, written by an older or
foreign program, or tampered with. Each decoder in this package wraps what it read in
:class:`Fields` and asks for each field by type; the first value of another shape raises
:class:`~scheduler_proc.errors.UnreadableData` (a ``ValueError``), so nothing downstream indexes
a raw document.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TypeGuard, TypeVar

from scheduler_proc.errors import UnreadableData

S = TypeVar("S", bound=str)
_MISSING = object()


def shown(raw: object) -> str:
    """A value as a message shows it: quoted, escaped, at most 60 characters."""
    text = raw if isinstance(raw, str) else str(raw)
    return repr(text if len(text) <= 60 else text[:57] + "...")


@dataclass(frozen=True)
class Source:
    """What is being read: ``name`` says which thing (a file, a key, a pipe), ``fix`` what to do about it."""

    name: str
    fix: str

    def error(self, where: str, raw: object, expected: str) -> UnreadableData:
        """The error for ``raw`` found at ``where`` (a field path, or '' for the whole) instead of ``expected``."""
        if raw is _MISSING:
            return UnreadableData(self.name, f"{self.name} has no {where} ({expected}); {self.fix}")
        at = f" for {where}" if where else ""
        return UnreadableData(self.name, f"{self.name} holds {shown(raw)}{at}, not {expected}; {self.fix}")


def parse_json(source: Source, raw: bytes | str) -> object:
    """``raw`` as JSON; text that is not JSON raises UnreadableData."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise source.error("", raw if isinstance(raw, str) else raw.decode("utf-8", "replace"), "JSON") from None


class Fields:
    """A JSON object being decoded: each accessor returns its field's value typed, or raises UnreadableData."""

    def __init__(self, source: Source, raw: object, where: str = "") -> None:
        if not isinstance(raw, dict):
            raise source.error(where, raw, "a JSON object")
        self.source, self.where = source, where
        self.raw: dict[str, object] = raw

    def has(self, name: str) -> bool:
        """Whether the (optional) field ``name`` is there."""
        return name in self.raw

    def _path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def _value(self, name: str) -> object:
        return self.raw.get(name, _MISSING)

    def _bad(self, name: str, value: object, expected: str) -> UnreadableData:
        return self.source.error(self._path(name), value, expected)

    def text(self, name: str) -> str:
        value = self._value(name)
        if isinstance(value, str):
            return value
        raise self._bad(name, value, "a string")

    def optional_text(self, name: str) -> str | None:
        value = self._value(name)
        if value is None or isinstance(value, str):
            return value
        raise self._bad(name, value, "a string or null")

    def integer(self, name: str) -> int:
        value = self._value(name)
        if _is_integer(value):
            return value
        raise self._bad(name, value, "a whole number")

    def optional_integer(self, name: str) -> int | None:
        value = self._value(name)
        if value is None or _is_integer(value):
            return value
        raise self._bad(name, value, "a whole number or null")

    def number(self, name: str) -> float:
        """A finite number (a whole one too: JSON writes 2.0 as 2 in some writers)."""
        value = self._value(name)
        if _is_number(value):
            return value
        raise self._bad(name, value, "a finite number")

    def optional_number(self, name: str) -> float | None:
        value = self._value(name)
        if value is None or _is_number(value):
            return value
        raise self._bad(name, value, "a finite number or null")

    def boolean(self, name: str) -> bool:
        value = self._value(name)
        if isinstance(value, bool):
            return value
        raise self._bad(name, value, "true or false")

    def choice(self, name: str, allowed: tuple[S, ...]) -> S:
        """One of ``allowed`` (a Literal's words, from :mod:`scheduler_proc.formats.vocabulary`)."""
        value = self._value(name)
        for word in allowed:
            if value == word:
                return word
        raise self._bad(name, value, f"one of {', '.join(allowed)}")

    def optional_choice(self, name: str, allowed: tuple[S, ...]) -> S | None:
        value = self._value(name)
        if value is None:
            return None
        for word in allowed:
            if value == word:
                return word
        raise self._bad(name, value, f"one of {', '.join(allowed)}, or null")

    def texts(self, name: str) -> list[str]:
        value = self._value(name)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise self._bad(name, value, "a list of strings")

    def object(self, name: str) -> Fields:
        return Fields(self.source, self._value(name), self._path(name))

    def objects(self, name: str) -> list[Fields]:
        value = self._value(name)
        if not isinstance(value, list):
            raise self._bad(name, value, "a list of JSON objects")
        path = self._path(name)
        return [Fields(self.source, item, f"{path}[{index}]") for index, item in enumerate(value)]


def _is_integer(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
