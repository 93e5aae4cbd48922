"""The device tree language: DTS parsing and printing, DTB encoding and decoding.

``parse``/``parse_file`` read DTS (dtc's language, plus the ``/multikernel-v1/``
header), ``load`` reads DTS or DTB, ``to_dtb``/``from_dtb`` convert to and from the
flattened form, ``format_dts`` prints a tree back as DTS. Trees can also be built in
code with the ``Tree.empty()`` and ``Node.set_*`` helpers.
"""

from kerf.dts.compare import tree_diff, trees_equal
from kerf.dts.dtb import from_dtb, is_dtb, to_dtb
from kerf.dts.files import load, parse_file
from kerf.dts.parser import parse
from kerf.dts.printer import format_dts
from kerf.dts.tree import (
    Diagnostic,
    Marker,
    MarkerKind,
    Node,
    Property,
    Tree,
    UnresolvedRef,
)

__all__ = [
    "Diagnostic",
    "Marker",
    "MarkerKind",
    "Node",
    "Property",
    "Tree",
    "UnresolvedRef",
    "format_dts",
    "from_dtb",
    "is_dtb",
    "load",
    "parse",
    "parse_file",
    "to_dtb",
    "tree_diff",
    "trees_equal",
]
