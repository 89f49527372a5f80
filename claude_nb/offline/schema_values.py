"""Values that fit a JSON schema, taken from the question wherever the schema allows.

Used for the inputs of generated tool calls and for structured-output answers, so an
offline answer visibly follows what was asked (``"weather in Lyon"`` -> ``{"city":
"Lyon"}``) and the same request always gets the same values. Per property, first match:

* ``const``; for an ``enum``, the value the question names (else ``default``, else one
  picked by a stable hash of the question, so different rows get different values);
* strings: a value in the ``format`` asked for (a date, an e-mail, a URL found in the
  question); a quoted string from the question; the word next to the property's name
  ("the **west** region", "city **of Paris**"); for place or person properties a
  capitalised word after "in", "from", "for"...; for text properties (query, summary,
  description...) the question itself; else ``default``, else a plausible word;
* numbers: the number next to the property's name ("**5** days"), else the first
  number in the question within the bounds, else ``default``, else 3 or 2.5;
* booleans ``default`` else true; arrays the enum values the question names, else
  ``minItems`` values (at least one when ``complete``); objects recurse.

Bounds the SDK's ``transform_schema`` moved into the description (``{minimum: 1,
maximum: 5}``) are honoured too, like the real model is asked to.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Question", "fill_object", "fill_value", "off_schema_text"]

_FORMATS = {
    "date": "2025-01-15",
    "date-time": "2025-01-15T12:00:00Z",
    "time": "12:00:00",
    "duration": "P1D",
    "email": "ada@example.com",
    "hostname": "example.com",
    "uri": "https://example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
}
_FORMAT_PATTERNS = {
    "date": r"\b\d{4}-\d{2}-\d{2}\b",
    "date-time": r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?",
    "email": r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
    "uri": r"https?://[^\s\"'<>)]+",
}
_WORDS = {
    "city": "Paris",
    "location": "Paris, France",
    "country": "France",
    "name": "Ada",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "username": "ada",
    "timezone": "Europe/Paris",
    "tz": "Europe/Paris",
    "unit": "celsius",
    "units": "metric",
    "language": "python",
    "lang": "en",
    "code": "print('hello')",
    "expression": "2 + 2",
    "path": "data.csv",
    "file": "data.csv",
    "filename": "data.csv",
    "symbol": "AAPL",
    "ticker": "AAPL",
    "currency": "EUR",
    "id": "abc123",
    "column": "price",
    "table": "sales",
    "sql": "SELECT 1",
}
_TEXT_PROPS = {
    "query",
    "q",
    "search",
    "text",
    "question",
    "prompt",
    "message",
    "topic",
    "content",
    "body",
    "input",
    "summary",
    "description",
    "subject",
    "title",
    "answer",
    "reason",
    "reasoning",
    "explanation",
    "why",
    "comment",
    "notes",
    "note",
}
_PLACE_PROPS = {"city", "location", "place", "country", "town", "destination", "origin", "where"}
_PERSON_PROPS = {"name", "person", "customer", "user", "author", "who", "first_name", "owner"}
_STOPWORDS = {
    "a",
    "an",
    "the",
    "of",
    "in",
    "at",
    "for",
    "to",
    "from",
    "is",
    "are",
    "was",
    "and",
    "or",
    "my",
    "our",
    "your",
    "this",
    "that",
    "with",
    "on",
    "by",
    "what",
    "which",
    "how",
    "named",
    "called",
}
_WORD = re.compile(r"[^\W_][\w'.\-]*[^\W_]|[^\W_]")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\w)")
_QUOTED = re.compile(r"\"([^\"]{1,200})\"|“([^”]{1,200})”|'([^']{1,200})'|`([^`]{1,200})`")
_PREPOSITIONS = {"in", "at", "for", "from", "to", "near", "by", "named", "called", "of"}
_BOUNDS = re.compile(r"\{([^{}]*)\}\s*$")


@dataclass
class Question:
    """The question's text and what was already taken from it (one value per property)."""

    text: str
    used: set[str] = field(default_factory=set)

    def pick(self, candidates: list[str]) -> str | None:
        """The first candidate not used yet (marked used)."""
        for value in candidates:
            if value and value not in self.used:
                self.used.add(value)
                return value
        return None

    def stable_index(self, salt: str, n: int) -> int:
        return zlib.crc32(f"{salt}\n{self.text}".encode()) % n


def _mentions(text: str, value: str) -> int:
    """Where ``value`` occurs in ``text`` as a whole word (case-insensitive), or -1."""
    match = re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE)
    return match.start() if match else -1


def _name_forms(name: str) -> list[str]:
    words = [w for w in re.split(r"[_\W]+", name.lower()) if w]
    forms = [" ".join(words)] if words else []
    if len(words) > 1:
        forms.append(words[-1])
    forms += [f[:-1] for f in forms if f.endswith("s") and len(f) > 3]
    return forms


def _next_to_name(q: Question, name: str) -> list[str]:
    """Words next to a mention of the property's name: before it, or after a linker."""
    out = []
    for form in _name_forms(name):
        for match in re.finditer(rf"(?<!\w){re.escape(form)}s?(?!\w)", q.text, re.IGNORECASE):
            before = _WORD.findall(q.text[: match.start()])
            if before and before[-1].lower() not in _STOPWORDS:
                out.append(before[-1])
            after = _WORD.findall(q.text[match.end() :])
            while after and after[0].lower() in ("is", "of", "named", "called", "=", "a", "the"):
                after = after[1:]
            if after and after[0].lower() not in _STOPWORDS:
                out.append(after[0])
    return out


def _after_preposition(text: str) -> list[str]:
    """Capitalised names after "in", "from", "for"... ("weather in São Paulo")."""
    words = _WORD.findall(text)
    out = []
    for i, word in enumerate(words[:-1]):
        if word.lower() in _PREPOSITIONS:
            j = i + 1
            while j < len(words) and words[j][0].isupper():
                j += 1
            if j > i + 1:
                out.append(" ".join(words[i + 1 : j]))
    return out


def _content_words(text: str) -> list[str]:
    """The question's longer words, longest first (its first word, often a verb, last)."""
    words = _WORD.findall(text)
    rest = [
        w
        for w in dict.fromkeys(words[1:])
        if len(w) >= 4 and w.isalpha() and w.lower() not in _STOPWORDS
    ]
    return sorted(rest, key=len, reverse=True) + words[:1]


def _bounds(schema: Mapping[str, Any]) -> dict[str, float]:
    """Numeric constraints, from the schema or from the ``{key: value}`` tail the SDK's
    ``transform_schema`` moves unsupported keywords to."""
    found: dict[str, float] = {}
    match = _BOUNDS.search(str(schema.get("description") or ""))
    if match:
        for part in match.group(1).split(","):
            key, _, value = part.partition(":")
            with contextlib.suppress(ValueError):
                found[key.strip()] = float(value.strip())
    for key in (
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    ):
        if isinstance(schema.get(key), (int, float)) and not isinstance(schema.get(key), bool):
            found[key] = float(schema[key])
    return found


def _in_bounds(value: float, bounds: Mapping[str, float]) -> bool:
    return (
        value >= bounds.get("minimum", float("-inf"))
        and value <= bounds.get("maximum", float("inf"))
        and value > bounds.get("exclusiveMinimum", float("-inf"))
        and value < bounds.get("exclusiveMaximum", float("inf"))
    )


def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/$defs/Name``), a few levels deep."""
    for _ in range(20):
        if not isinstance(schema, Mapping) or not isinstance(schema.get("$ref"), str):
            return schema
        node: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node.get(part) if isinstance(node, Mapping) else None
        schema = node
    return schema


def _kind(schema: Mapping[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def _string(schema: Mapping[str, Any], name: str, q: Question) -> str:
    lowered = name.lower()
    fmt = str(schema.get("format") or "")
    value: str | None = None
    if fmt in _FORMAT_PATTERNS:
        found = re.findall(_FORMAT_PATTERNS[fmt], q.text)
        value = q.pick(found) or (found[0] if found else _FORMATS[fmt])
    elif fmt in _FORMATS:
        value = _FORMATS[fmt]
    if value is None:
        value = q.pick([next(g for g in m if g) for m in _QUOTED.findall(q.text)])
    if value is None and lowered in _TEXT_PROPS:
        value = q.text
    if value is None:
        value = q.pick(_next_to_name(q, name))
    if value is None and (lowered in _PLACE_PROPS or lowered in _PERSON_PROPS):
        value = q.pick(_after_preposition(q.text))
    if value is None:
        default = schema.get("default")
        if isinstance(default, str):
            value = default
        elif lowered in _WORDS:
            value = _WORDS[lowered]
        else:
            value = q.pick(_content_words(q.text)) or name
    bounds = _bounds(schema)
    if "maxLength" in bounds:
        value = value[: int(bounds["maxLength"])]
    if "minLength" in bounds and len(value) < bounds["minLength"]:
        value = value.ljust(int(bounds["minLength"]), ".")
    return value


def _number(schema: Mapping[str, Any], name: str, q: Question, integer: bool) -> float:
    bounds = _bounds(schema)

    def fits(raw: str) -> bool:
        number = float(raw)
        return _in_bounds(number, bounds) and (not integer or number.is_integer())

    near = []
    for form in _name_forms(name):
        pattern = (
            rf"(-?\d+(?:\.\d+)?)\s+{re.escape(form)}|{re.escape(form)}\W{{0,3}}(-?\d+(?:\.\d+)?)"
        )
        near += [a or b for a, b in re.findall(pattern, q.text, re.IGNORECASE)]
    has_default = isinstance(schema.get("default"), (int, float))
    raw = q.pick([n for n in near if fits(n)])
    if raw is None and not has_default:
        raw = q.pick([n for n in _NUMBER.findall(q.text) if fits(n)])
    if raw is not None:
        number = float(raw)
    elif has_default:
        number = float(schema["default"])
    else:
        number = 3.0 if integer else 2.5
        low = bounds.get("minimum", bounds.get("exclusiveMinimum", number - 1) + 1)
        high = bounds.get("maximum", bounds.get("exclusiveMaximum", number + 1) - 1)
        number = min(max(number, low), high)
    return int(number) if integer else number


def fill_value(
    schema: Any,
    name: str,
    q: Question,
    *,
    complete: bool = False,
    root: Mapping[str, Any] | None = None,
) -> Any:
    """A value for ``schema`` (a property called ``name``); see the module docstring."""
    root = root if root is not None else (schema if isinstance(schema, Mapping) else {})
    schema = _resolve(schema, root)
    if not isinstance(schema, Mapping):
        return q.pick(_next_to_name(q, name)) or _WORDS.get(name.lower(), name)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        named = sorted(
            (pos, i) for i, v in enumerate(enum) if (pos := _mentions(q.text, str(v))) >= 0
        )
        if named:
            return enum[named[0][1]]
        if "default" in schema:
            return schema["default"]
        return enum[q.stable_index(name, len(enum))]
    for key in ("anyOf", "oneOf"):
        options = [
            o
            for o in (_resolve(o, root) for o in schema.get(key) or [])
            if isinstance(o, Mapping) and o.get("type") != "null"
        ]
        if options:
            return fill_value(options[0], name, q, complete=complete, root=root)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root) or {})
        return fill_value(merged, name, q, complete=complete, root=root)
    kind = _kind(schema)
    if kind == "string" or (kind is None and not schema):
        return _string(schema, name, q)
    if kind in ("integer", "number"):
        return _number(schema, name, q, kind == "integer")
    if kind == "boolean":
        default = schema.get("default")
        return default if isinstance(default, bool) else True
    if kind == "null":
        return None
    if kind == "array":
        return _array(schema, name, q, complete=complete, root=root)
    if kind == "object":
        return fill_object(schema, q, complete=complete, root=root)
    return _string(schema, name, q)


def _array(
    schema: Mapping[str, Any], name: str, q: Question, *, complete: bool, root: Mapping[str, Any]
) -> list[Any]:
    bounds = _bounds(schema)
    low = int(bounds.get("minItems", 0))
    high = int(bounds.get("maxItems", 1_000_000))
    items = _resolve(schema.get("items"), root)
    enum = items.get("enum") if isinstance(items, Mapping) else None
    if isinstance(enum, list) and enum:
        named = sorted((pos, v) for v in enum if (pos := _mentions(q.text, str(v))) >= 0)
        values = [v for _, v in named][:high]
        if len(values) >= low and (values or not complete):
            return values
    count = min(max(low, 1 if complete else 0), high)
    singular = name[:-1] if name.endswith("s") and len(name) > 3 else name
    return [fill_value(items, singular, q, complete=complete, root=root) for _ in range(count)]


def fill_object(
    schema: Mapping[str, Any],
    q: Question,
    *,
    complete: bool = False,
    root: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An object for an object schema: every property when ``complete`` (a structured
    output), else the required ones and those with a default (a tool's input)."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    return {
        name: fill_value(sub, name, q, complete=complete, root=root)
        for name, sub in props.items()
        if complete or name in required or (isinstance(sub, Mapping) and "default" in sub)
    }


def off_schema_text(value: dict[str, Any], schema: Mapping[str, Any], how: str) -> str:
    """JSON text that does NOT fit ``schema`` (the ``off_schema`` fault): ``missing``
    leaves out a required property, ``type`` gives one the wrong type, ``json`` cuts the
    text off mid-way."""
    broken = dict(value)
    required = [k for k in schema.get("required") or [] if k in broken] or list(broken)
    if how == "missing" and required:
        del broken[required[0]]
    elif how == "type" and broken:
        key = required[0] if required else next(iter(broken))
        old = broken[key]
        broken[key] = "not a number" if isinstance(old, (int, float)) else 12345
    text = json.dumps(broken, ensure_ascii=False)
    return text[: max(1, len(text) // 2)] if how == "json" else text
