"""Request files for ``kerf plan``: what to place, in DTS/DTB or JSON.

* DTS or DTB: an ``instances { }`` block of the multikernel-v1 binding
  (:func:`kerf.binding.read_instances`); blocks with ``cpus`` pin their CPUs.
* JSON::

      {"instances": [{"name": "web", "cpu-count": 4, "memory": "8GB",
                      "cpu-affinity": "compact", "memory-policy": "local",
                      "numa-nodes": [0], "devices": ["eth0_vf1"], "exclusive-cores": true}]}

  ``cpus`` (a list, or text like ``"0-3,8"``) instead of ``cpu-count`` pins the CPUs;
  ``memory-bytes`` (an integer) instead of ``memory``; ``id`` (1-2047) is optional.
  Sizes take K, M, G, T with an optional B or iB, all powers of 1024 (16GB =
  0x400000000). Every mistake is an InputError located at ``file:line:col`` and naming
  the key: unknown keys, wrong types, sizes, policy names, device references.

A file whose name ends in ``.json`` (any case) is always read as JSON. Any other file is
read by content: a DTB by its magic number, JSON when the text starts with ``{`` or ``[``
(after white space), DTS otherwise. A leading UTF-8 byte order mark is skipped in JSON
(RFC 8259 lets a parser ignore it; some editors write one), so line 1 columns count from
the character after it.

JSON limits, each an InputError with a location rather than a crash deep inside the
parser: nesting deeper than :data:`MAX_DEPTH` levels, integers longer than
:data:`MAX_DIGITS` digits, ``NaN``/``Infinity``, and a key repeated in one object
(JSON parsers differ on which copy wins, so kerf accepts neither).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kerf.errors import InputError, KerfError, SourceLocation
from kerf.units import SIZE_LIMIT
from planner.errors import RequestError
from planner.hardware import Host, Instance
from planner.policy import CpuAffinity, MemoryPolicy
from planner.request import DeviceWant, InstanceRequest

KEYS = (
    "name",
    "id",
    "cpu-count",
    "cpus",
    "memory",
    "memory-bytes",
    "cpu-affinity",
    "memory-policy",
    "numa-nodes",
    "devices",
    "exclusive-cores",
)
MAX_ID = 2047
DTB_MAGIC = b"\xd0\x0d\xfe\xed"
#: Deepest nesting of arrays and objects a JSON request file may have. A valid file needs
#: four levels (top object, "instances", an instance, its "cpus"); the limit keeps both
#: json.loads and the recursive _Locator far from Python's recursion limit.
MAX_DEPTH = 100
#: Longest integer literal accepted: any sane value (memory-bytes < 2^64) has at most 20
#: digits, and Python refuses to convert more than 4300 with a ValueError of its own.
MAX_DIGITS = 100
_BOM = "\ufeff"
_EXAMPLE = '{"instances": [{"name": "web", "cpu-count": 2, "memory": "4G"}]}'


@dataclass(frozen=True)
class RequestFile:
    """The requests of a file and where each is written (by name), so that a problem
    the planner finds later (an unknown NUMA node, a pinned CPU the host keeps) can
    point at the request in the file."""

    requests: tuple[InstanceRequest, ...]
    locations: Mapping[str, SourceLocation]


def read_requests(path: str | Path, host: Host) -> tuple[InstanceRequest, ...]:
    """The requests in a DTS, DTB or JSON file; InputError for anything malformed."""
    return read_request_file(path, host).requests


def read_request_file(path: str | Path, host: Host) -> RequestFile:
    """:func:`read_requests` with the location of each request."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(
            f"cannot read {path}: {err.strerror or err}", hint="check the file name and its permissions"
        ) from None
    # The name decides first: a user who calls a file .json means JSON, and a DTS parse
    # error ("expected '/dts-v1/;'") about a JSON mistake would point the wrong way.
    named_json = path.name.lower().endswith(".json")
    if named_json or not raw.startswith(DTB_MAGIC):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
            raise InputError(
                f"expected UTF-8 text{'' if named_json else ' or a DTB'}, "
                f"found the byte 0x{raw[err.start]:02x} that UTF-8 does not allow here",
                hint="save the file as UTF-8" + ("" if named_json else ", or compile it to a DTB"),
                location=SourceLocation(str(path), line, col),
            ) from None
        if named_json or text.removeprefix(_BOM).lstrip()[:1] in ("{", "["):
            return _parse_json(text, str(path))
    return _dts_requests(path, host)


def _dts_requests(path: Path, host: Host) -> RequestFile:
    from kerf.binding import read_instances
    from kerf.dts import load

    tree = load(path)
    instances, requests = read_instances(tree, host)
    block = tree.find_node("/instances")
    children = block.children.values() if block is not None else ()
    where = {child.name: child.location for child in children if child.location is not None}
    return RequestFile(tuple(_pinned(inst) for inst in instances) + tuple(requests), where)


def _pinned(inst: Instance) -> InstanceRequest:
    """A block with an explicit CPU list, as a request that pins those CPUs."""
    return InstanceRequest(
        name=inst.name,
        memory_bytes=inst.memory_bytes,
        cpus=inst.cpus,
        numa_nodes=inst.numa_nodes,
        cpu_affinity=inst.cpu_affinity or CpuAffinity.COMPACT,
        memory_policy=inst.memory_policy or MemoryPolicy.LOCAL,
        devices=tuple(DeviceWant.parse(d) for d in inst.devices),
        exclusive_cores=inst.exclusive_cores,
        id=inst.id,
    )


# --- JSON -------------------------------------------------------------------------------


@dataclass
class _Node:
    """Where a JSON value starts, and where its members (object keys, array items) are."""

    offset: int
    keys: dict[str, int] = field(default_factory=dict)
    members: dict[str, _Node] = field(default_factory=dict)
    items: list[_Node] = field(default_factory=list)


class _Locator:
    """Offsets of keys and values in a JSON text that json.loads accepted (or accepted up
    to a value a parse hook rejected: the locator raises the located error there).

    Recursive, one call per level: safe because :func:`_check_depth` has already refused
    texts nested deeper than MAX_DEPTH.
    """

    _NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
    _SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename

    def where(self, offset: int) -> SourceLocation:
        """1-based line and column of an offset."""
        line = self.text.count("\n", 0, offset) + 1
        col = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return SourceLocation(self.filename, line, col)

    def root(self) -> _Node:
        """The layout of the whole document."""
        node, _ = self._value(self._skip(0))
        return node

    def _skip(self, i: int) -> int:
        match = self._SPACE.match(self.text, i)
        return match.end() if match else i

    def _string(self, i: int) -> tuple[str, int]:
        """The string starting with the quote at ``i``, and the offset past its end."""
        j = i + 1
        while self.text[j] != '"':
            j += 2 if self.text[j] == "\\" else 1
        return json.loads(self.text[i : j + 1]), j + 1

    def _value(self, i: int) -> tuple[_Node, int]:
        node = _Node(i)
        char = self.text[i]
        if char == "{":
            i = self._skip(i + 1)
            while self.text[i] != "}":
                key, after = self._string(i)
                if key in node.keys:
                    first = self.where(node.keys[key])
                    raise InputError(
                        f'duplicate key "{key}": expected each key once in an object, found it twice',
                        hint=f"the first is at line {first.line}, column {first.col}; keep one of them",
                        location=self.where(i),
                    )
                node.keys[key] = i
                i = self._skip(self._skip(after) + 1)  # past the colon
                node.members[key], i = self._value(i)
                i = self._skip(i)
                if self.text[i] == ",":
                    i = self._skip(i + 1)
            return node, i + 1
        if char == "[":
            i = self._skip(i + 1)
            while self.text[i] != "]":
                item, i = self._value(i)
                node.items.append(item)
                i = self._skip(i)
                if self.text[i] == ",":
                    i = self._skip(i + 1)
            return node, i + 1
        if char == '"':
            return node, self._string(i)[1]
        for literal in ("true", "false", "null"):
            if self.text.startswith(literal, i):
                return node, i + len(literal)
        for constant in ("NaN", "Infinity", "-Infinity"):
            if self.text.startswith(constant, i):
                # Python's json module reads these; JSON does not have them.
                raise InputError(
                    f"{constant} is not a JSON number",
                    hint='counts, ids and memory-bytes are whole numbers; sizes may be strings like "4G"',
                    location=self.where(i),
                )
        match = self._NUMBER.match(self.text, i)
        assert match is not None, "json.loads accepted the text, so a number is here"
        number = match.group()
        if len(number) > MAX_DIGITS and not any(c in number for c in ".eE"):
            raise InputError(
                f"expected a number below 2^64, found an integer of {len(number.lstrip('-'))} digits",
                hint='counts, ids and memory-bytes are whole numbers; sizes may be strings like "4G"',
                location=self.where(i),
            )
        return node, match.end()


class _Rejected(ValueError):
    """A value a json.loads hook refused (NaN, Infinity, an endless integer); the locator
    finds it again and raises the error with its place."""


def _reject_constant(name: str) -> NoReturn:
    raise _Rejected(name)


def _parse_int(text: str) -> int:
    # Checked here, before int(): past 4300 digits int() raises a ValueError that
    # json.loads lets through as a traceback.
    if len(text) > MAX_DIGITS:
        raise _Rejected(text[:20])
    return int(text)


# Strings (so that brackets inside them do not count) and brackets. A string runs to its
# closing quote or to the end of the text; either way the pattern matches, so finditer
# never retries inside a string and the scan stays linear.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[][{}]', re.DOTALL)


def _check_depth(text: str, locator: _Locator) -> None:
    """InputError at the first ``[`` or ``{`` nested deeper than MAX_DEPTH.

    Runs before json.loads, whose C scanner recurses once per level and raises
    RecursionError on deep input; counting brackets needs no recursion and works on
    invalid JSON too (an unclosed ``[[[[...`` is refused here, with its place).
    """
    depth = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(
                    f"expected JSON nested at most {MAX_DEPTH} levels deep, found a deeper {token}",
                    hint=f"a request file needs four levels: {_EXAMPLE}",
                    location=locator.where(match.start()),
                )
        elif token == "]" or token == "}":
            depth = max(depth - 1, 0)


def _kind(value: object) -> str:
    """What a decoded JSON value is, for "found ..." in messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return json.dumps(value)
    if value is None:
        return "null"
    return "a number"


def parse_json_requests(text: str, filename: str = "<string>") -> tuple[InstanceRequest, ...]:
    """Requests from the JSON text of a request file (see the module documentation).

    Raises InputError, located at ``filename:line:col``, for anything malformed."""
    return _parse_json(text, filename).requests


def _parse_json(text: str, filename: str) -> RequestFile:
    text = text.removeprefix(_BOM)
    locator = _Locator(text, filename)
    if not text.strip():
        raise InputError(
            'expected a JSON object with an "instances" list, found an empty file',
            hint=f"write {_EXAMPLE}",
            location=locator.where(0),
        )
    _check_depth(text, locator)
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except _Rejected:
        locator.root()  # raises the error at the rejected value's place
        raise AssertionError("the locator finds every value json.loads rejected") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"invalid JSON: {err.msg}",
            hint=f"a request file looks like {_EXAMPLE}",
            location=SourceLocation(filename, err.lineno, err.colno),
        ) from None
    root = locator.root()  # also refuses duplicate keys, which json.loads lets the last win
    if not isinstance(data, dict):
        raise InputError(
            f'expected a JSON object with an "instances" list, found {_kind(data)}',
            hint=f"write {_EXAMPLE}",
            location=locator.where(root.offset),
        )
    for key in data:
        if key != "instances":
            close = difflib.get_close_matches(key, ["instances"], n=1)
            raise InputError(
                f'unknown key "{key}" at the top of {filename}; only "instances" is known',
                hint='did you mean "instances"?' if close else f"write {_EXAMPLE}",
                location=locator.where(root.keys[key]),
            )
    if "instances" not in data:
        raise InputError(
            'expected an "instances" list in the top-level object, found no "instances" key',
            hint=f"write {_EXAMPLE}",
            location=locator.where(root.offset),
        )
    if not isinstance(data["instances"], list):
        raise InputError(
            f'expected "instances" to be a list of objects, found {_kind(data["instances"])}',
            hint=f"write {_EXAMPLE}",
            location=locator.where(root.members["instances"].offset),
        )
    requests: list[InstanceRequest] = []
    where: dict[str, SourceLocation] = {}
    for item, node in zip(data["instances"], root.members["instances"].items, strict=True):
        request = _instance(item, node, locator)
        if request.name in where:
            raise InputError(
                f"two instances are named {request.name}",
                hint="instance names must be unique",
                location=locator.where(node.offset),
            )
        where[request.name] = locator.where(node.offset)
        requests.append(request)
    if not requests:
        raise InputError("the request file lists no instances", location=locator.where(root.offset))
    return RequestFile(tuple(requests), where)


def _instance(item: Any, node: _Node, loc: _Locator) -> InstanceRequest:
    here = loc.where(node.offset)
    if not isinstance(item, dict):
        raise InputError('each entry of "instances" is an object', location=here)
    name = item.get("name")
    label = f"instance {name}" if isinstance(name, str) else "an instance"
    for key in item:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise InputError(
                f'unknown key "{key}" in {label} of {loc.filename}',
                hint=f'did you mean "{close[0]}"?' if close else f"known keys: {', '.join(KEYS)}",
                location=loc.where(node.keys[key]),
            )

    def at(key: str) -> SourceLocation:
        return loc.where(node.members[key].offset) if key in node.members else here

    def fail(key: str, message: str, hint: str | None = None) -> InputError:
        return InputError(f"{label}: {message}", hint=hint, location=at(key))

    if not isinstance(name, str):
        raise fail("name", '"name" is required and must be a string', hint='e.g. "name": "web"')
    _check_name(name, fail)
    count, cpus = _cpus(item, fail)
    memory = _memory(item, fail)
    affinity = _choice(item, "cpu-affinity", CpuAffinity, CpuAffinity.COMPACT, fail)
    policy = _choice(item, "memory-policy", MemoryPolicy, MemoryPolicy.LOCAL, fail)
    nodes = _ids(item, "numa-nodes", fail)
    devices = _devices(item, fail)
    exclusive = item.get("exclusive-cores", False)
    if not isinstance(exclusive, bool):
        raise fail("exclusive-cores", '"exclusive-cores" is true or false')
    ident = item.get("id")
    if ident is not None and (not _is_int(ident) or not 1 <= ident <= MAX_ID):
        raise fail("id", f'"id" is a whole number from 1 to {MAX_ID}, got {json.dumps(ident)}')
    try:
        return InstanceRequest(
            name=name,
            memory_bytes=memory,
            cpu_count=count,
            cpus=cpus,
            numa_nodes=nodes,
            cpu_affinity=affinity,
            memory_policy=policy,
            devices=devices,
            exclusive_cores=exclusive,
            id=ident,
        )
    except RequestError as err:
        raise InputError(err.message, hint=err.hint, location=here) from None


Fail = Callable[..., InputError]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_name(name: str, fail: Fail) -> None:
    from kerf.validate.instances import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise fail(
            "name",
            f"{name!r} cannot be an instance name: {problem}",
            hint="1-63 characters of A-Z a-z 0-9 . _ -, not starting with . or -",
        )


def _cpus(item: dict[str, Any], fail: Fail) -> tuple[int | None, tuple[int, ...] | None]:
    if ("cpu-count" in item) == ("cpus" in item):
        raise fail(
            "cpus" if "cpus" in item else "name",
            'give "cpu-count" (let kerf choose) or "cpus" (pin them), '
            + ("not both" if "cpus" in item else "one of them is required"),
        )
    if "cpu-count" in item:
        count = item["cpu-count"]
        if not _is_int(count) or count < 1:
            raise fail("cpu-count", f'"cpu-count" is a whole number of at least 1, got {json.dumps(count)}')
        return count, None
    return None, _ids(item, "cpus", fail) or None


def _ids(item: dict[str, Any], key: str, fail: Fail) -> tuple[int, ...]:
    """A list of non-negative integers, or text like "0-3,8"."""
    value = item.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        from kerf.units import parse_cpu_list

        try:
            return parse_cpu_list(value, what=f'"{key}"')
        except KerfError as err:
            raise fail(key, err.message, hint=err.hint) from None
    if isinstance(value, list) and value and all(_is_int(v) and v >= 0 for v in value):
        return tuple(value)
    raise fail(key, f'"{key}" is a list of ids like [0, 1] or text like "0-3,8", got {json.dumps(value)}')


def _memory(item: dict[str, Any], fail: Fail) -> int:
    from kerf.units import parse_size

    if ("memory" in item) == ("memory-bytes" in item):
        raise fail(
            "memory-bytes" if "memory-bytes" in item else "name",
            'give "memory" (e.g. "8GB") or "memory-bytes" (an integer), '
            + ("not both" if "memory" in item else "one of them is required"),
        )
    if "memory-bytes" in item:
        size = item["memory-bytes"]
        if not _is_int(size) or size <= 0:
            raise fail("memory-bytes", f'"memory-bytes" is a positive whole number, got {json.dumps(size)}')
        if size >= SIZE_LIMIT:  # the cap parse_size puts on "memory"
            raise fail(
                "memory-bytes",
                f'"memory-bytes" must stay below 2^64 bytes (16 EiB), got {size}',
                hint='write the size as "memory", e.g. "64G"',
            )
        return int(size)
    text = item["memory"]
    if _is_int(text):
        text = str(text)
    if not isinstance(text, str):
        raise fail("memory", f'"memory" is a size like "8GB" or "512M", got {json.dumps(text)}')
    try:
        return parse_size(text, what='"memory"')
    except KerfError as err:
        raise fail("memory", err.message, hint=err.hint) from None


def _choice(item: dict[str, Any], key: str, enum: Any, default: Any, fail: Fail) -> Any:
    if key not in item:
        return default
    value = item[key]
    names = [str(m.value) for m in enum]
    if not isinstance(value, str) or value not in names:
        raise fail(key, f'"{key}" is one of {", ".join(names)}, got {json.dumps(value)}')
    return enum(value)


def _devices(item: dict[str, Any], fail: Fail) -> tuple[DeviceWant, ...]:
    value = item.get("devices", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail("devices", f'"devices" is a list of names like ["eth0_vf1"], got {json.dumps(value)}')
    try:
        return tuple(DeviceWant.parse(v) for v in value)
    except RequestError as err:
        raise fail("devices", err.message, hint=err.hint) from None
