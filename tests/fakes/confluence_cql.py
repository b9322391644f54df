"""Just enough CQL for the fake Confluence: parse a query into a predicate and a sort.

Supported: ``AND``/``OR``/``NOT`` and parentheses; ``=``, ``!=``, ``>``, ``>=``, ``<``,
``<=``, ``~`` and ``[NOT] IN (...)``; fields ``type``, ``space`` (``space.key``),
``id``, ``title``, ``label``, ``ancestor``, ``parent``, ``lastmodified``, ``created``;
``ORDER BY field [ASC|DESC], ...``. Anything else is a :class:`CQLError`, answered
with HTTP 400 like the real server, so a client bug shows up as a failed test.

Dates are the real server's literal forms (``"yyyy-MM-dd HH:mm"``, ``"yyyy/MM/dd
HH:mm"``, ``"yyyy-MM-dd"``, ``"yyyy/MM/dd"``), read in the *server's* time zone; that
is the time-zone caveat a client has to cope with, reproduced on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|[=<>~(),])
      | (?P<word>[A-Za-z0-9_.~\-:/]+)
    )""",
    re.VERBOSE,
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_DATE_FIELDS = {"lastmodified", "created"}
_FIELDS = {"type", "space", "space.key", "id", "title", "label", "ancestor", "parent"}
_FIELDS |= _DATE_FIELDS
_KEYWORDS = {"and", "or", "not", "in", "order", "by", "asc", "desc"}

Predicate = Callable[[Mapping[str, Any]], bool]


class CQLError(ValueError):
    """The query is not valid (for this fake): the server answers 400 with this text."""


@dataclass(frozen=True)
class Query:
    """A parsed query: which rows match, and how to sort them (field, descending)."""

    match: Predicate
    order: tuple[tuple[str, bool], ...] = ()


def _tokens(cql: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    cql = cql.rstrip()
    while pos < len(cql):
        m = _TOKEN.match(cql, pos)
        if not m or m.end() == pos:
            raise CQLError(f"Could not parse cql : {cql} (at character {pos})")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "word" and text.lower() in _KEYWORDS:
            kind, text = "kw", text.lower()
        out.append((kind, text))
        pos = m.end()
    return out


def parse_date(literal: str, zone: tzinfo) -> datetime:
    """A CQL date literal as an aware datetime in the server's zone."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(literal, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    raise CQLError(f"Could not parse cql date '{literal}' (use yyyy-MM-dd HH:mm)")


class _Parser:
    def __init__(self, cql: str, zone: tzinfo) -> None:
        self.items = _tokens(cql)
        self.pos = 0
        self.zone = zone
        self.cql = cql

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self, kind: str | None = None, text: str | None = None) -> str:
        item = self.peek()
        if item is None or (kind and item[0] != kind) or (text and item[1] != text):
            raise CQLError(f"Could not parse cql : {self.cql} (expected {text or kind})")
        self.pos += 1
        return item[1]

    def accept(self, kind: str, text: str) -> bool:
        if self.peek() == (kind, text):
            self.pos += 1
            return True
        return False

    def query(self) -> Query:
        match = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.accept("kw", "order"):
            self.take("kw", "by")
            while True:
                field = self.take("word").lower()
                descending = self.accept("kw", "desc")
                if not descending:
                    self.accept("kw", "asc")
                order.append((field, descending))
                if not self.accept("op", ","):
                    break
        if self.peek() is not None:
            raise CQLError(f"Could not parse cql : {self.cql} (unexpected {self.peek()[1]!r})")
        return Query(match, tuple(order))

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.accept("kw", "or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.not_expr()]
        while self.accept("kw", "and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def not_expr(self) -> Predicate:
        if self.accept("kw", "not"):
            inner = self.not_expr()
            return lambda row: not inner(row)
        if self.accept("op", "("):
            inner = self.or_expr()
            self.take("op", ")")
            return inner
        return self.clause()

    def value(self, field: str) -> Any:
        kind, text = self.peek() or ("", "")
        if kind not in ("string", "word"):
            raise CQLError(f"Could not parse cql : {self.cql} (expected a value)")
        self.pos += 1
        return parse_date(text, self.zone) if field in _DATE_FIELDS else text

    def clause(self) -> Predicate:
        field = self.take("word").lower()
        if field not in _FIELDS:
            raise CQLError(f"Could not parse cql : {self.cql} (unknown field '{field}')")
        field = "space" if field == "space.key" else field
        negate = self.accept("kw", "not")
        if self.accept("kw", "in"):
            self.take("op", "(")
            values = [self.value(field)]
            while self.accept("op", ","):
                values.append(self.value(field))
            self.take("op", ")")
            return lambda row: any(_compare(row, field, "=", v) for v in values) != negate
        if negate:
            raise CQLError(f"Could not parse cql : {self.cql} (NOT must be followed by IN)")
        op = self.take("op")
        if op not in ("=", "!=", ">", ">=", "<", "<=", "~", "!~"):
            raise CQLError(f"Could not parse cql : {self.cql} (bad operator {op!r})")
        value = self.value(field)
        return lambda row: _compare(row, field, op, value)


def _compare(row: Mapping[str, Any], field: str, op: str, value: Any) -> bool:
    actual = row[field]
    if isinstance(actual, (list, tuple, set, frozenset)):  # label, ancestor: any member
        if op == "!=":
            return value not in actual
        return any(_compare({field: a}, field, op, value) for a in actual)
    if field in _DATE_FIELDS and op == "=":
        return actual - value < timedelta(minutes=1) and actual >= value
    if op in ("~", "!~"):
        found = str(value).lower() in str(actual).lower()
        return found if op == "~" else not found
    if field not in _DATE_FIELDS:
        actual, value = str(actual), str(value)
    if op == "=":
        return bool(actual == value)
    if op == "!=":
        return bool(actual != value)
    if op == ">":
        return bool(actual > value)
    if op == ">=":
        return bool(actual >= value)
    if op == "<":
        return bool(actual < value)
    return bool(actual <= value)


def parse(cql: str, zone: tzinfo) -> Query:
    """Parse ``cql``; date literals are read in ``zone`` (the server's time zone)."""
    if not cql or not cql.strip():
        raise CQLError("CQL query parameter is required")
    return _Parser(cql, zone).query()
