"""What node names, property names and labels may contain (the rules dtc enforces).

The DTS lexer accepts a wider set of characters in names than the device tree rules
allow; like dtc, the parser lexes the wide set and the checks reject the rest with a
message naming the offending character. The tree builders use the same predicates.
"""

from __future__ import annotations

import re
import string

# Characters the lexer takes as part of a property or node name.
LEXER_NAME_CHARS = frozenset(string.ascii_letters + string.digits + ",._+*#?@-")
NODE_NAME_CHARS = frozenset(string.ascii_letters + string.digits + ",._+-@")
PROP_NAME_CHARS = frozenset(string.ascii_letters + string.digits + ",._+*#?-")

LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def bad_node_name_char(name: str) -> str | None:
    """The first character not allowed in a node name, or None when all are fine."""
    return next((c for c in name if c not in NODE_NAME_CHARS), None)


def bad_prop_name_char(name: str) -> str | None:
    """The first character not allowed in a property name, or None when all are fine."""
    return next((c for c in name if c not in PROP_NAME_CHARS), None)


def node_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a node (empty, bad character, two '@'), or None."""
    if not name:
        return "a node name cannot be empty"
    bad = bad_node_name_char(name)
    if bad is not None:
        return f"bad character {bad!r} in node name {name!r}"
    if name.count("@") > 1:
        return f"multiple '@' characters in node name {name!r}"
    return None


def prop_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a property, or None."""
    if not name:
        return "a property name cannot be empty"
    bad = bad_prop_name_char(name)
    if bad is not None:
        return f"bad character {bad!r} in property name {name!r}"
    return None


def is_label(text: str) -> bool:
    """True when ``text`` is a valid label (``[A-Za-z_][A-Za-z0-9_]*``)."""
    return LABEL_RE.fullmatch(text) is not None
