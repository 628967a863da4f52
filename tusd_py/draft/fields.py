"""The few Structured Field items (RFC 9651) the draft's headers use, parsed strictly.

``Upload-Complete``/``Upload-Incomplete`` are Booleans (``?0``/``?1``), ``Upload-Offset``,
``Upload-Length`` and ``Upload-Draft-Interop-Version`` Integers, ``Upload-Limit`` a Dictionary
of Integers that the server only writes. An Item may carry parameters (``?1;foo=bar``); they
mean nothing here and are ignored. Anything else is refused with the header's name: a client
that sends ``true`` or ``1`` for a Boolean gets a 400 that says so, not a silent default.
"""

from __future__ import annotations

import re

from ..protocol.errors import BadRequest, InvalidLength, InvalidOffset

# Parameters: ";" key ["=" bare item]. Skipped, never read: what they say means nothing here.
_BARE_ITEM = (
    r"""(?:\?[01]|-?[0-9]{1,15}(?:\.[0-9]{1,3})?|"(?:[^"\\]|\\["\\])*"|"""  # boolean, number, string
    r"""[A-Za-z*][!#$%&'*+.^_`|~:/0-9A-Za-z-]*)"""  # token
)
_PARAMS = r"(?:;[ ]*[a-z*][a-z0-9_.*-]*(?:=" + _BARE_ITEM + r")?)*"
_BOOLEAN = re.compile(r"\?([01])" + _PARAMS)
_INTEGER = re.compile(r"(-?[0-9]{1,15})" + _PARAMS)  # RFC 9651: at most 15 digits


def _item(value: str) -> str:
    # A field sent twice arrives joined by ", ", which is a List, never an Item; OWS around an
    # Item is allowed (RFC 9651 4.2), nothing else is.
    return value.strip(" \t")


def parse_boolean(name: str, value: str) -> bool:
    match = _BOOLEAN.fullmatch(_item(value))
    if match is None:
        raise BadRequest(f"{name} must be a Structured Field Boolean (?0 or ?1), got {value[:32]!r}")
    return match.group(1) == "1"


def parse_integer(name: str, value: str, error: type[BadRequest] = BadRequest) -> int:
    """A non-negative Integer (every Integer field of the draft counts bytes or versions)."""
    match = _INTEGER.fullmatch(_item(value))
    if match is None or match.group(1).startswith("-"):
        raise error(f"{name} must be a non-negative Structured Field Integer, got {value[:32]!r}")
    return int(match.group(1))


def parse_offset(value: str | None) -> int:
    if value is None:
        raise InvalidOffset("missing Upload-Offset header")
    return parse_integer("Upload-Offset", value, InvalidOffset)


def parse_length(value: str) -> int:
    return parse_integer("Upload-Length", value, InvalidLength)


def dictionary(members: dict[str, int]) -> str:
    """A Dictionary of Integer members, in the given order: ``min-size=0, max-size=100``."""
    return ", ".join(f"{key}={value}" for key, value in members.items())


def boolean(value: bool) -> str:
    return "?1" if value else "?0"
