"""The multikernel-v1 host binding: device tree <-> Host, instances and requests.

See docs/binding.md for the format. The public entry points:

* :func:`read_host` / :func:`load_host`: a tree / a DTS or DTB file -> HostDescription;
* :func:`read_instances`: the ``instances { }`` block of a request file, against a Host;
* :func:`host_to_tree`: a Host (+ instances, requests) -> Tree, in standard DTS form.
"""

from kerf.binding.context import BindingDiagnostic
from kerf.binding.description import HostDescription, load_host, read_host, read_instances
from kerf.binding.writer import host_to_tree

__all__ = [
    "BindingDiagnostic",
    "HostDescription",
    "host_to_tree",
    "load_host",
    "read_host",
    "read_instances",
]
