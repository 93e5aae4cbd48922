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

The format is chosen by content: a DTB by its magic number, JSON when the text starts
with ``{``, DTS otherwise.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kerf.errors import InputError, KerfError, SourceLocation
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


def read_requests(path: str | Path, host: Host) -> tuple[InstanceRequest, ...]:
    """The requests in a DTS, DTB or JSON file; InputError for anything malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(
            f"cannot read {path}: {err.strerror or err}", hint="check the file name and its permissions"
        ) from None
    if not raw.startswith(DTB_MAGIC):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{path}: not UTF-8 text, and not a DTB either") from None
        if text.lstrip().startswith("{"):
            return parse_json_requests(text, str(path))
    return _dts_requests(path, host)


def _dts_requests(path: Path, host: Host) -> tuple[InstanceRequest, ...]:
    from kerf.binding import read_instances
    from kerf.dts import load

    instances, requests = read_instances(load(path), host)
    return tuple(_pinned(inst) for inst in instances) + tuple(requests)


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
    """Offsets of keys and values in a JSON text that json.loads accepted."""

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
        return node, match.end()


class _NonStandardConstant(ValueError):
    """NaN or Infinity in a JSON text (the locator reports where)."""


def _reject_constant(name: str) -> NoReturn:
    raise _NonStandardConstant(name)


def parse_json_requests(text: str, filename: str = "<string>") -> tuple[InstanceRequest, ...]:
    """Requests from the JSON text of a request file (see the module documentation)."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except _NonStandardConstant:
        _Locator(text, filename).root()  # raises the error at the constant's place
        raise AssertionError("the locator finds every constant json.loads rejected") from None
    except json.JSONDecodeError as err:
        raise InputError(
            f"invalid JSON: {err.msg}",
            hint='a request file looks like {"instances": [{"name": "web", "cpu-count": 2, "memory": "4G"}]}',
            location=SourceLocation(filename, err.lineno, err.colno),
        ) from None
    locator = _Locator(text, filename)
    root = locator.root()
    if not isinstance(data, dict) or not isinstance(data.get("instances"), list):
        raise InputError(
            'a request file holds an object with an "instances" list',
            hint='write {"instances": [{"name": "web", "cpu-count": 2, "memory": "4GB"}]}',
            location=locator.where(root.members["instances"].offset if "instances" in root.members else 0),
        )
    for key in data:
        if key != "instances":
            raise InputError(
                f'unknown key "{key}" at the top of {filename}; only "instances" is known',
                location=locator.where(root.keys[key]),
            )
    requests: list[InstanceRequest] = []
    seen: set[str] = set()
    for item, node in zip(data["instances"], root.members["instances"].items, strict=True):
        request = _instance(item, node, locator)
        if request.name in seen:
            raise InputError(
                f"two instances are named {request.name}",
                hint="instance names must be unique",
                location=locator.where(node.offset),
            )
        seen.add(request.name)
        requests.append(request)
    if not requests:
        raise InputError("the request file lists no instances", location=locator.where(root.offset))
    return tuple(requests)


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
