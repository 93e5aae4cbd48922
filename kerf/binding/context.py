"""The state one binding read carries: the tree, the header's rules and the remarks so far."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kerf.binding.values import read_u64, where
from kerf.dts.tree import Diagnostic, Node, Property, Tree
from kerf.errors import BindingError

# Properties the DTS compiler adds on its own; never reported as unknown.
GENERATED_PROPERTIES = frozenset({"phandle", "linux,phandle"})


@dataclass(frozen=True)
class BindingDiagnostic(Diagnostic):
    """A remark of the binding about the input, with a stable code.

    Most are warnings (a default was used, a legacy form was read). A few describe
    facts the hardware model cannot hold, such as a CPU id listed twice, which the
    validator reports as errors: their ``severity`` is ``"error"``.
    """

    code: str = "binding"
    severity: str = "warning"
    subject: str = ""

    def __str__(self) -> str:
        where_ = f"{self.location}: " if self.location else ""
        return f"{where_}{self.severity}: {self.message}"


@dataclass
class Context:
    """One read of a tree: header rules, remarks collected along the way."""

    tree: Tree
    diagnostics: list[BindingDiagnostic] = field(default_factory=list)
    # 64-bit properties written with a literal wider than 32 bits (/multikernel-v1/ only)
    wide_written: list[Property] = field(default_factory=list)

    @property
    def wide_literals(self) -> bool:
        """True under ``/multikernel-v1/``: 64-bit properties accept the seed's wide cells."""
        return self.tree.header == "multikernel-v1"

    def u64(self, prop: Property) -> int:
        """A 64-bit property value, remembering when it was written with a wide literal."""
        value = read_u64(prop, wide_literals=self.wide_literals)
        if self.wide_literals and prop.written_cells is not None:
            self.wide_written.append(prop)
        return value

    def remarks(self) -> list[Diagnostic]:
        """The parser's warnings and the binding's, with the wide-literal warnings of the
        binding's 64-bit properties folded into one remark that gives the right advice
        (the whole property becomes ``<hi lo>``, which the parser cannot know)."""
        if not self.wide_written:
            return [*self.tree.warnings, *self.diagnostics]
        lines = {(p.location.filename, p.location.line) for p in self.wide_written if p.location is not None}
        parser = [
            w
            for w in self.tree.warnings
            if w.location is None or (w.location.filename, w.location.line) not in lines
        ]
        first = self.wide_written[0]
        value = read_u64(first, wide_literals=True)
        written = " ".join(hex(c) for c in first.written_cells or ())
        count = len(self.wide_written)
        others = f" and {count - 1} more 64-bit propert{'ies' if count > 2 else 'y'}" if count > 1 else ""
        numbers = sorted({p.location.line for p in self.wide_written if p.location is not None})
        where_ = ", ".join(map(str, numbers[:12])) + (" ..." if len(numbers) > 12 else "")
        folded = BindingDiagnostic(
            where(first),
            f"'{first.name} = <{written}>'{others} use{'s' if count == 1 else ''} a cell literal wider "
            f"than 32 bits (line{'s' if len(numbers) > 1 else ''} {where_}): "
            "kerf reads them under "
            "/multikernel-v1/, dtc rejects them",
            f"write {first.name} = <0x{value >> 32:x} 0x{value & 0xFFFFFFFF:x}>; or "
            f"{first.name} = /bits/ 64 <0x{value:x}>;",
            "dts-wide-literal",
            "warning",
            first.node.path if first.node is not None else "",
        )
        return [*parser, folded, *self.diagnostics]

    def note(
        self,
        code: str,
        message: str,
        at: Property | Node | None,
        *,
        hint: str | None = None,
        severity: str = "warning",
    ) -> None:
        """Record a remark about the input."""
        location = where(at) if at is not None else None
        if isinstance(at, Property):
            subject = at.node.path if at.node is not None else ""
        else:
            subject = at.path if at is not None else ""
        self.diagnostics.append(BindingDiagnostic(location, message, hint, code, severity, subject))

    def check_known(self, node: Node, known: Iterable[str]) -> None:
        """Warn about properties the binding does not define here (usually typos)."""
        allowed = set(known) | GENERATED_PROPERTIES
        for prop in node.props.values():
            if prop.name not in allowed:
                self.note(
                    "binding-unknown-property",
                    f"{node.path}: property '{prop.name}' is not part of the binding and is ignored",
                    prop,
                    hint="known here: " + ", ".join(sorted(allowed - GENERATED_PROPERTIES)),
                )


def check_children(ctx: Context, node: Node, known: Iterable[str]) -> None:
    """Warn about child nodes the binding does not define here (kept, but ignored)."""
    allowed = set(known)
    for child in node.children.values():
        if child.name not in allowed:
            ctx.note(
                "binding-unknown-node",
                f"{child.path}: node '{child.name}' is not part of the binding and is ignored",
                child,
                hint="known here: " + (", ".join(sorted(allowed)) or "no child nodes"),
            )


def require_node(parent: Node, name: str, what: str, hint: str | None = None) -> Node:
    """The child node ``name`` of ``parent``; a located BindingError when it is missing."""
    child = parent.child(name)
    if child is None:
        path = f"{parent.path.rstrip('/')}/{name}"
        raise BindingError(
            f"{path} is missing: {what}",
            hint=hint,
            location=parent.location,
        )
    return child


def require_prop(node: Node, name: str, what: str, hint: str | None = None) -> Property:
    """The property ``name`` of ``node``; a located BindingError when it is missing."""
    prop = node.prop(name)
    if prop is None:
        raise BindingError(
            f"{node.path}: property '{name}' is missing ({what})",
            hint=hint,
            location=node.location,
        )
    return prop
