"""Instance lifecycle of the simulated kernel: what kexec_file_load and the multikernel
reboot commands do (kernel-interface reference §4 and §8).

    (create) -> ready --load--> loaded --start--> active --halt--> loaded --unload--> ready

Each refusal carries the errno the real system call returns in that situation, so the
simulated backend raises the same typed errors as the real one. The simulated spawn
always acknowledges a graceful halt at once.
"""

from __future__ import annotations

import errno as E
import os
from dataclasses import dataclass

from kerf.kernel.sim_memory import PAGE_SIZE, SimFailure
from kerf.kernel.sim_state import Instance, LoadedImage, SimState

_ELF_MACHINE = {"x86_64": 62, "aarch64": 183, "riscv64": 243}


@dataclass(frozen=True)
class ImageFacts:
    """What the simulated loader learns about the files it is handed."""

    head: bytes  # the first bytes of the kernel image
    size: int
    sha256: str
    initrd_size: int = 0
    initrd_sha256: str | None = None


def _format_accepted(arch: str, head: bytes) -> bool:
    """True when the architecture's multikernel loader takes this image format."""
    is_elf = head[:4] == b"\x7fELF" and len(head) >= 0x14 and head[4] == 2
    machine = int.from_bytes(head[0x12:0x14], "little") if is_elf else None
    if arch == "aarch64":
        return len(head) >= 0x3C and head[0x38:0x3C] == b"ARM\x64"
    if arch == "riscv64":
        return (len(head) >= 0x3C and head[0x38:0x3C] == b"RSC\x05") or machine == _ELF_MACHINE["riscv64"]
    return machine == _ELF_MACHINE.get(arch)


def _as_kimage_shows(cmdline: str) -> str:
    """The command line as kerf reads it back from ``/proc/kimage``: the kernel keeps the
    loaded bytes (``os.fsencode`` of argv text), and bytes that are not UTF-8 read back as
    U+FFFD. Storing that form keeps the simulated files encodable."""
    return os.fsencode(cmdline).decode("utf-8", "replace")


def _pages(size: int) -> int:
    return -(-size // PAGE_SIZE) * PAGE_SIZE


def load(state: SimState, instance_id: int, facts: ImageFacts, cmdline: str, debug: bool) -> Instance:
    """kexec_file_load into an instance: its segments go into the instance's first region."""
    instance = state.instance_by_id(instance_id)
    if instance is None:
        raise SimFailure(E.ENOENT, f"no instance with id {instance_id}")
    if instance.image is not None:
        raise SimFailure(E.EBUSY, f"instance {instance.name} already has a kernel image loaded")
    if not _format_accepted(state.machine.arch, facts.head):
        raise SimFailure(
            E.ENOEXEC, f"the {state.machine.arch} multikernel loader does not recognise the image format"
        )
    if not instance.regions:
        raise SimFailure(E.ENOMEM, f"instance {instance.name} has no memory for the image segments")
    first = min(instance.regions, key=lambda r: r.index)
    needed = _pages(facts.size) + _pages(facts.initrd_size) + PAGE_SIZE  # + boot data page
    if needed > first.size:
        raise SimFailure(
            E.ENOMEM,
            f"instance {instance.name}: needs {needed:#x} bytes for segments, region 0 has {first.size:#x}",
        )
    segments = 2 + (1 if facts.initrd_sha256 is not None else 0)
    instance.image = LoadedImage(
        sha256=facts.sha256,
        size=facts.size,
        cmdline=_as_kimage_shows(cmdline),
        segments=segments,
        start=first.base,
        initrd_sha256=facts.initrd_sha256,
        initrd_size=facts.initrd_size,
        debug=debug,
    )
    instance.status = "loaded"
    return instance


def unload(state: SimState, instance_id: int) -> Instance:
    """Drop the image: state ready. Like the kernel, this does not refuse an active instance."""
    instance = state.instance_by_id(instance_id)
    if instance is None or instance.image is None:
        raise SimFailure(E.ENOENT, f"no kernel image is loaded for instance id {instance_id}")
    if instance.status == "active":
        state.log.append(
            f"instance {instance.name}: image unloaded while active (the kernel does not refuse)"
        )
    instance.image = None
    instance.status = "ready"
    return instance


def start(state: SimState, instance_id: int) -> Instance:
    """reboot MKLI: boot the loaded image on the instance's first CPU.

    The kernel also restarts an ``active`` instance whose CPUs are all parked (a spawn
    that died, reference §4.3). A simulated spawn never dies, so an active instance here
    always still runs and gets EBUSY, as a running one does from the kernel.
    """
    instance = state.instance_by_id(instance_id)
    if instance is None or instance.image is None:
        raise SimFailure(E.EINVAL, f"no kernel image is loaded for instance id {instance_id}")
    if instance.status != "loaded":
        raise SimFailure(E.EBUSY, f"instance {instance.name} is {instance.status}, not loaded")
    if not instance.cpus:
        raise SimFailure(E.EINVAL, f"instance {instance.name} has no CPUs")
    instance.status = "active"
    return instance


def halt(state: SimState, instance_id: int, force: bool) -> Instance:
    """reboot MKLH (graceful, acknowledged at once) or MKLF (forced)."""
    instance = state.instance_by_id(instance_id)
    if instance is None:
        raise SimFailure(E.ENOENT, f"no instance with id {instance_id}")
    if force:
        if state.machine.arch == "riscv64":
            raise SimFailure(E.EOPNOTSUPP, "forced stop is not implemented on riscv64")
        if instance.status not in ("active", "loaded"):
            raise SimFailure(E.EINVAL, f"instance {instance.name} is {instance.status}, not active or loaded")
        if not instance.cpus:
            raise SimFailure(E.EINVAL, f"instance {instance.name} has no CPUs")
    elif instance.status != "active":
        raise SimFailure(E.EINVAL, f"instance {instance.name} is {instance.status}, not active")
    instance.status = "loaded"
    return instance
