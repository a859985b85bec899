"""The validator every decoder reads through: typed values, or UnreadableData naming thing, value and fix."""

from __future__ import annotations

import math
import re

import pytest

from scheduler_proc.errors import UnreadableData
from scheduler_proc.formats.validate import Fields, Source, parse_json, shown

SOURCE = Source("test file /tmp/x.json", "delete it")


def _fields(**raw: object) -> Fields:
    return Fields(SOURCE, raw)


def test_each_accessor_returns_its_type() -> None:
    fields = _fields(t="a", n=None, i=3, f=2.5, w=2, b=False, c="two", l=["x"], o={"k": 1}, os=[{"k": 2}])
    assert fields.text("t") == "a" and fields.optional_text("n") is None and fields.optional_text("t") == "a"
    assert fields.integer("i") == 3 and fields.optional_integer("n") is None
    assert fields.number("f") == 2.5 and fields.number("w") == 2 and fields.optional_number("n") is None
    assert fields.boolean("b") is False
    assert fields.choice("c", ("one", "two")) == "two" and fields.optional_choice("n", ("one",)) is None
    assert fields.texts("l") == ["x"]
    assert fields.object("o").integer("k") == 1
    assert [item.integer("k") for item in fields.objects("os")] == [2]
    assert fields.has("t") and not fields.has("missing")


@pytest.mark.parametrize(
    ("raw", "read", "message"),
    [
        ({}, lambda f: f.text("name"), "has no name (a string)"),
        ({"name": 1}, lambda f: f.text("name"), "holds '1' for name, not a string"),
        ({"n": True}, lambda f: f.integer("n"), "holds 'True' for n, not a whole number"),
        ({"n": 1.5}, lambda f: f.integer("n"), "not a whole number"),
        ({"n": "1"}, lambda f: f.number("n"), "holds '1' for n, not a finite number"),
        ({"n": math.inf}, lambda f: f.number("n"), "holds 'inf' for n, not a finite number"),
        ({"b": "yes"}, lambda f: f.boolean("b"), "not true or false"),
        ({"c": "three"}, lambda f: f.choice("c", ("one", "two")), "holds 'three' for c, not one of one, two"),
        ({"l": ["x", 1]}, lambda f: f.texts("l"), "not a list of strings"),
        ({"o": []}, lambda f: f.object("o"), "holds '[]' for o, not a JSON object"),
        ({"os": [{}, 3]}, lambda f: f.objects("os"), "holds '3' for os[1], not a JSON object"),
        ({"o": {"k": "v"}}, lambda f: f.object("o").integer("k"), "for o.k, not a whole number"),
    ],
)
def test_a_value_of_another_shape_is_named_with_where_it_was_and_the_fix(
    raw: dict[str, object], read: object, message: str
) -> None:
    with pytest.raises(UnreadableData) as caught:
        read(_fields(**raw))  # type: ignore[operator]
    assert message in str(caught.value)
    assert re.match(r"test file /tmp/x\.json (holds|has no) .*; delete it$", str(caught.value))
    assert caught.value.key == "test file /tmp/x.json"


def test_a_document_that_is_no_object_or_no_json_is_refused() -> None:
    with pytest.raises(UnreadableData, match=r"holds '\[1\]', not a JSON object; delete it"):
        Fields(SOURCE, [1])
    with pytest.raises(UnreadableData, match=r"holds '\{\"half', not JSON; delete it"):
        parse_json(SOURCE, b'{"half')
    assert parse_json(SOURCE, "[1]") == [1]


def test_long_values_are_shortened_in_messages() -> None:
    assert shown("x" * 100) == repr("x" * 57 + "...")
    assert shown("a\nb") == repr("a\nb")
