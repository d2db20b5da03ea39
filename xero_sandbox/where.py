"""The subset of Xero's ``where`` filter language that integrations actually use.

Supported: ``Field=="text"``, ``Field!="text"``, ``Field==guid("...")``, ``Field==true``,
numbers and ``null``; ``<``, ``>``, ``<=``, ``>=`` on numbers and on dates against
``DateTime(2026,01,31)`` (Xero's date literal; dates compare by value, not as text);
``Field.Contains("x")``, ``.StartsWith("x")``, ``.EndsWith("x")``;
dotted paths (``Contact.ContactID``, ``Invoice.InvoiceNumber``); ``AND``/``OR`` (also
``&&``/``||``), AND binding tighter. String comparison ignores case, as Xero's does. The
filter is applied to the object's Xero JSON, so field names are exactly Xero's.
Anything else raises ``ValueError`` (answered as a 400, as Xero does for bad filters).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .xerojson import comparable

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<guid>guid\(\s*"(?P<guidval>[^"]*)"\s*\))
      | (?P<datetime>DateTime\(\s*\d+(?:\s*,\s*\d+){0,5}\s*\))
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\|)
      | (?P<method>\.(?:Contains|StartsWith|EndsWith)\()
      | (?P<close>\))
      | (?P<word>[A-Za-z_]\w*(?:\.(?!(?:Contains|StartsWith|EndsWith)\()[A-Za-z_]\w*)*
                 |-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE | re.IGNORECASE,
)

Predicate = Callable[[dict[str, Any]], bool]
_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def compile_where(expression: str) -> Predicate:
    tokens = _tokenise(expression)
    disjuncts: list[list[Predicate]] = [[]]
    pos = 0
    while pos < len(tokens):
        predicate, pos = _condition(tokens, pos)
        disjuncts[-1].append(predicate)
        if pos < len(tokens):
            kind, value = tokens[pos]
            joiner = value.upper() if kind == "word" else value
            if joiner in ("AND", "&&"):
                pos += 1
            elif joiner in ("OR", "||"):
                disjuncts.append([])
                pos += 1
            else:
                raise ValueError(f"unexpected {value!r} in where clause")
            if pos >= len(tokens):
                raise ValueError("where clause ends with a connective")
    return lambda obj: any(all(p(obj) for p in conj) for conj in disjuncts)


def _tokenise(expression: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot parse where clause at {text[pos:]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind == "guidval":
            kind = "guid"
        if kind == "guid":
            tokens.append(("literal", match.group("guidval")))
        elif kind == "datetime":
            tokens.append(("datetime", match.group("datetime")))
        elif kind == "string":
            tokens.append(("literal", match.group("string")[1:-1].replace('\\"', '"')))
        else:
            tokens.append((kind or "", match.group(kind or "")))
    return tokens


def _condition(tokens: list[tuple[str, str]], pos: int) -> tuple[Predicate, int]:
    kind, field = tokens[pos]
    if kind != "word":
        raise ValueError(f"expected a field name, got {field!r}")
    pos += 1
    if pos < len(tokens) and tokens[pos][0] == "method":
        method = tokens[pos][1][1:-1].lower()
        if (
            pos + 2 >= len(tokens)
            or tokens[pos + 1][0] != "literal"
            or tokens[pos + 2][0] != "close"
        ):
            raise ValueError(f"{method} takes one quoted argument")
        needle = tokens[pos + 1][1].casefold()

        def test(obj: dict[str, Any]) -> bool:
            value = lookup(obj, field)
            if not isinstance(value, str):
                return False
            hay = value.casefold()
            if method == "contains":
                return needle in hay
            if method == "startswith":
                return hay.startswith(needle)
            return hay.endswith(needle)

        return test, pos + 3
    if pos + 1 >= len(tokens) or tokens[pos][0] != "op" or tokens[pos][1] in ("&&", "||"):
        raise ValueError(f"expected a comparison after {field}")
    op = tokens[pos][1]
    literal = _literal(tokens[pos + 1])
    if op in _ORDERINGS:
        return _ordering(field, _ORDERINGS[op], literal), pos + 2
    negate = op == "!="

    def compare(obj: dict[str, Any]) -> bool:
        equal = _equal(lookup(obj, field), literal)
        return equal != negate

    return compare, pos + 2


def _ordering(field: str, compare: Callable[[Any, Any], bool], literal: Any) -> Predicate:
    """``<``, ``>``, ``<=``, ``>=``: numbers against a number, dates against DateTime()."""
    if not isinstance(literal, Decimal | datetime):
        raise ValueError(f"{field} can only be compared with a number or a DateTime")

    def test(obj: dict[str, Any]) -> bool:
        value = comparable(lookup(obj, field))
        if isinstance(literal, datetime):
            return isinstance(value, datetime) and compare(value, literal)
        return isinstance(value, Decimal) and compare(value, literal)

    return test


def _literal(token: tuple[str, str]) -> Any:
    kind, value = token
    if kind == "literal":
        return value
    if kind == "datetime":
        parts = [int(p) for p in re.findall(r"\d+", value)]
        if len(parts) < 3:
            raise ValueError(f"{value} needs a year, a month and a day")
        year, month, day, *clock = parts
        hour, minute, second = (clock + [0, 0, 0])[:3]
        try:
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"{value} is not a date") from exc
    if kind == "word":
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        try:
            return Decimal(value)
        except ArithmeticError:
            pass
    raise ValueError(f"expected a value, got {value!r}")


def lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        key = next((k for k in obj if k.lower() == part.lower()), None)
        obj = obj.get(key) if key else None
    return obj


def _equal(actual: Any, expected: Any) -> bool:
    if expected is None or actual is None:
        return actual is expected or (actual in ("", None) and expected is None)
    if isinstance(expected, bool):
        return actual is expected
    if isinstance(expected, datetime):
        return comparable(actual) == expected
    if isinstance(expected, Decimal):
        try:
            return Decimal(str(actual)) == expected
        except ArithmeticError:
            return False
    return isinstance(actual, str) and actual.casefold() == str(expected).casefold()
