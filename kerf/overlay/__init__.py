"""State deltas as generation-C overlay transactions, and overlay blobs read back.

* :mod:`kerf.overlay.ops`: the operations (instance-create/-remove, item operations);
* :func:`build_transactions`: operations -> one blob per step (one operation, one item), in order;
* :func:`read_overlay` / :func:`operations_of`: a blob -> its fragments / operations;
* :func:`apply_batch`: write a batch all-or-nothing (status read back; on a refusal the
  earlier transactions are rolled back, the refused one changed nothing).
"""

from kerf.overlay.apply import RollbackFailedError, TransactionFailedError, apply_batch
from kerf.overlay.build import Fragment, OverlayTransaction, build_transactions
from kerf.overlay.ops import (
    INSTANCES,
    RESOURCES,
    CpuItem,
    InstanceCreate,
    InstanceRemove,
    ItemOperation,
    Kind,
    MemoryItem,
    Operation,
    PciItem,
    instance_target,
)
from kerf.overlay.parse import operations_of, read_overlay

__all__ = [
    "INSTANCES",
    "RESOURCES",
    "CpuItem",
    "Fragment",
    "InstanceCreate",
    "InstanceRemove",
    "ItemOperation",
    "Kind",
    "MemoryItem",
    "Operation",
    "OverlayTransaction",
    "PciItem",
    "RollbackFailedError",
    "TransactionFailedError",
    "apply_batch",
    "build_transactions",
    "instance_target",
    "operations_of",
    "read_overlay",
]
