"""Sizes and id lists as people write them on the command line.

* :func:`parse_size`: ``16GiB``, ``16G``, ``16GB``, ``512M``, ``1.5K``, ``4096`` -> bytes.
  Suffixes K, M, G, T (optionally followed by ``B`` or ``iB``, any case) are powers of
  1024, as memory sizes are; a plain number is bytes. Fractions must come out as whole
  bytes; negative values and values of 2^64 bytes or more are refused, and so is zero
  unless the caller allows it.
* :func:`format_size`: bytes -> the largest unit that says it exactly (``16GiB``,
  ``1536MiB``, ``4097B``), so that ``parse_size(format_size(n)) == n``.
* :func:`parse_cpu_list`: ``0-3,8`` -> ``(0, 1, 2, 3, 8)``, in the order written (the first
  CPU of an instance is its boot CPU); repeats and backwards ranges are refused.
"""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal, InvalidOperation

from kerf.errors import UsageError

_SIZE = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[KMGT]?)(?P<suffix>I?B)?$", re.IGNORECASE
)
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
_RANGE = re.compile(r"^(?P<first>[0-9]+)(?:-(?P<last>[0-9]+))?$")
SIZE_LIMIT = 1 << 64


def parse_size(text: str, *, what: str = "size", allow_zero: bool = False) -> int:
    """Bytes in ``text`` (see the module documentation); UsageError when it is not a size."""
    raw = text.strip()
    example = "e.g. 4GiB, 512M, 1.5G or 4096"
    if raw.startswith("-"):
        raise UsageError(f"{what} must not be negative, got {text!r}", hint=example)
    m = _SIZE.match(raw)
    if m is None:
        raise UsageError(
            f"{what} {text!r} is not a size: expected a number with an optional K, M, G or T suffix",
            hint=example,
        )
    unit = m["unit"].upper()
    if m["suffix"] and m["suffix"].upper() == "IB" and not unit:
        raise UsageError(f"{what} {text!r}: 'iB' needs a unit before it (KiB, MiB, GiB, TiB)", hint=example)
    try:
        number = Decimal(m["number"])
    except InvalidOperation:  # pragma: no cover - the pattern only lets digits through
        raise UsageError(f"{what} {text!r} is not a number", hint=example) from None
    exact = number * (1 << _SHIFT[unit])
    if exact != exact.to_integral_value():
        raise UsageError(
            f"{what} {text!r} is not a whole number of bytes ({exact} bytes)",
            hint="use a smaller unit, e.g. 1536K instead of 1.5001M",
        )
    value = int(exact)
    if value >= SIZE_LIMIT:
        raise UsageError(f"{what} {text!r} is too large: sizes must stay below 2^64 bytes (16 EiB)")
    if value == 0 and not allow_zero:
        raise UsageError(f"{what} must be larger than 0, got {text!r}", hint=example)
    return value


def format_size(size: int) -> str:
    """``size`` bytes in the largest power-of-1024 unit that holds it exactly."""
    if size < 0:
        raise ValueError(f"a size cannot be negative: {size}")
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return f"{size}B"


def parse_cpu_list(text: str, *, what: str = "CPU list") -> tuple[int, ...]:
    """The ids of ``0-3,8`` style text, in the order written; UsageError when malformed."""
    ids: list[int] = []
    if not text.strip():
        raise UsageError(f"the {what} is empty", hint="e.g. 0-3,8")
    for part in text.split(","):
        item = part.strip()
        m = _RANGE.match(item)
        if m is None:
            raise UsageError(
                f"{what} {text!r}: {item!r} is not a number or a range like 4-7",
                hint="write ids and ranges separated by commas, e.g. 0-3,8",
            )
        first = int(m["first"])
        last = int(m["last"]) if m["last"] is not None else first
        if last < first:
            raise UsageError(
                f"{what} {text!r}: the range {item} runs backwards", hint=f"write {last}-{first}"
            )
        if last - first > 1 << 16:
            raise UsageError(f"{what} {text!r}: the range {item} is implausibly long")
        ids.extend(range(first, last + 1))
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise UsageError(f"{what} {text!r} names {', '.join(map(str, repeated))} more than once")
    return tuple(ids)
