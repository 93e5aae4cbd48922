"""Instance lifecycle on the simulated host: the state machine of kexec_file_load and the
multikernel reboot commands, with the kernel's error for every illegal step."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.kernel.backend import InstanceStatus
from kerf.kernel.errors import InvalidInstanceIdError, KernelCallError, KernelStateError, NoSuchInstanceError
from kerf.kernel.image import prepare_image
from kerf.kernel.kimage import KimageRow
from kerf.kernel.sim import SimulatedHost
from tests.kernel.images import ARM64_MAGIC, compress, make_bzimage, make_elf, make_image
from tests.kernel.simhost import (
    GiB,
    MiB,
    assert_files_mirror_state,
    create,
    dual_node_smt2,
    expect_applied,
    expect_failed,
    mem_items,
    op,
    standard_baseline,
)

ELF = make_elf(body=20_000)
CHUNK0 = 12 * GiB


@pytest.fixture
def web(pooled: SimulatedHost) -> SimulatedHost:
    """web (id 1): CPUs 2, 3 and 1 GiB; idle (id 2): memory but no CPUs; bare (id 3): nothing."""
    expect_applied(pooled, create("web", cpus=[2, 3], memory=GiB, numa=0))
    expect_applied(pooled, create("idle", memory=GiB, numa=0))
    expect_applied(pooled, create("bare"))
    return pooled


def status(sim: SimulatedHost, name: str = "web") -> str:
    return sim.instance(name).status.value


def test_full_lifecycle(web: SimulatedHost) -> None:
    assert status(web) == "ready"
    web.load(1, ELF, None, "console=mktty0 quiet")
    assert status(web) == "loaded"
    assert web.kimage() == [KimageRow(1, "multikernel", CHUNK0, 2, "file", "console=mktty0 quiet")]
    web.start(1)
    assert status(web) == "active"
    web.halt(1)
    assert status(web) == "loaded"
    web.start(1)  # a re-exec needs no reload
    web.halt(1, force=True)
    assert status(web) == "loaded"
    web.halt(1, force=True)  # allowed on loaded, to rescue CPUs that missed the first stop
    web.unload(1)
    assert status(web) == "ready"
    assert web.kimage() == []
    assert_files_mirror_state(web)


def test_load_from_files_with_an_initrd(web: SimulatedHost, tmp_path: Path) -> None:
    kernel, initrd = tmp_path / "vmlinux", tmp_path / "initrd.img"
    kernel.write_bytes(ELF)
    initrd.write_bytes(b"070701" + bytes(5000))
    web.load(1, kernel, initrd, "", debug=True)
    (instance,) = [i for i in web.snapshot().instances if i.name == "web"]
    assert instance.image is not None
    assert instance.image.sha256 == hashlib.sha256(ELF).hexdigest()
    assert (instance.image.initrd_size, instance.image.segments) == (5006, 3)
    assert web.kimage()[0].segments == 3


def test_prepared_bzimage_is_loadable(web: SimulatedHost, tmp_path: Path) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(make_bzimage(compress("gzip", ELF)))
    web.load(1, prepare_image(path, "x86_64"), None, "")
    assert status(web) == "loaded"


LOAD_ERRORS = [
    # (name, instance id, image, exception class, errno, words)
    ("no instance", 9, ELF, NoSuchInstanceError, errno.ENOENT, "no instance with id 9"),
    ("not elf", 1, b"MZ" + bytes(100), KernelCallError, errno.ENOEXEC, "does not recognise the image format"),
    ("no memory", 3, ELF, KernelCallError, errno.ENOMEM, "no memory for the image segments"),
    ("too big", 1, ELF + bytes(GiB), KernelCallError, errno.ENOMEM, "bytes for segments"),
]


@pytest.mark.parametrize(
    ("ident", "image", "cls", "code", "words"), [e[1:] for e in LOAD_ERRORS], ids=[e[0] for e in LOAD_ERRORS]
)
def test_load_errors(
    web: SimulatedHost, ident: int, image: bytes, cls: type[KernelCallError], code: int, words: str
) -> None:
    with pytest.raises(cls, match=words) as err:
        web.load(ident, image, None, "")
    assert err.value.errno == code and err.value.call == "kexec_file_load"
    assert [i.status for i in web.instances()] == [InstanceStatus.READY] * 3


def test_second_load_is_busy(web: SimulatedHost) -> None:
    web.load(1, ELF, None, "")
    with pytest.raises(KernelStateError, match="already has a kernel image loaded") as err:
        web.load(1, ELF, None, "")
    assert err.value.errno == errno.EBUSY and err.value.exit_code == ExitCode.STATE


STEP_ERRORS = [
    # (name, setup steps, step, exception class, errno, words)
    ("start ready", [], ("start", 1), KernelStateError, errno.EINVAL, "no kernel image is loaded"),
    ("start unknown", [], ("start", 9), KernelStateError, errno.EINVAL, "no kernel image is loaded"),
    (
        "start active",
        ["load", "start"],
        ("start", 1),
        KernelStateError,
        errno.EBUSY,
        "web is active, not loaded",
    ),
    ("start cpuless", ["load2"], ("start", 2), KernelStateError, errno.EINVAL, "idle has no CPUs"),
    ("halt loaded", ["load"], ("halt", 1), KernelStateError, errno.EINVAL, "web is loaded, not active"),
    ("halt unknown", [], ("halt", 9), NoSuchInstanceError, errno.ENOENT, "no instance with id 9"),
    ("force ready", [], ("force", 1), KernelStateError, errno.EINVAL, "not active or loaded"),
    ("force cpuless", ["load2"], ("force", 2), KernelStateError, errno.EINVAL, "idle has no CPUs"),
    ("unload ready", [], ("unload", 1), NoSuchInstanceError, errno.ENOENT, "no kernel image is loaded"),
    ("unload unknown", [], ("unload", 9), NoSuchInstanceError, errno.ENOENT, "no kernel image is loaded"),
]


def _do(sim: SimulatedHost, step: str, ident: int = 1) -> None:
    if step == "load":
        sim.load(1, ELF, None, "")
    elif step == "load2":
        sim.load(2, ELF, None, "")
    elif step == "start":
        sim.start(ident)
    elif step == "halt":
        sim.halt(ident)
    elif step == "force":
        sim.halt(ident, force=True)
    else:
        sim.unload(ident)


@pytest.mark.parametrize(
    ("setup", "step", "cls", "code", "words"), [e[1:] for e in STEP_ERRORS], ids=[e[0] for e in STEP_ERRORS]
)
def test_illegal_steps(
    web: SimulatedHost,
    setup: list[str],
    step: tuple[str, int],
    cls: type[KernelCallError],
    code: int,
    words: str,
) -> None:
    for s in setup:
        _do(web, s)
    before = [(i.name, i.status) for i in web.instances()]
    with pytest.raises(cls, match=words) as err:
        _do(web, *step)
    assert err.value.errno == code
    assert [(i.name, i.status) for i in web.instances()] == before


@pytest.mark.parametrize("bad", [0, 2048, -3])
def test_ids_the_syscalls_cannot_carry(web: SimulatedHost, bad: int) -> None:
    for call in (
        lambda: web.load(bad, ELF, None, ""),
        lambda: web.start(bad),
        lambda: web.unload(bad),
        lambda: web.halt(bad),
    ):
        with pytest.raises(InvalidInstanceIdError):
            call()


def test_auto_ids_above_2047_can_be_created_but_not_loaded(pooled: SimulatedHost) -> None:
    expect_applied(pooled, create("far", ident=4000, memory=GiB))
    with pytest.raises(InvalidInstanceIdError, match=r"1\.\.2047"):
        pooled.load(4000, ELF, None, "")


def test_unload_of_an_active_instance_is_not_refused(web: SimulatedHost) -> None:
    web.load(1, ELF, None, "")
    web.start(1)
    web.unload(1)
    assert status(web) == "ready"
    assert any("unloaded while active" in line for line in web.kernel_log())


def test_image_region_cannot_be_removed_while_loaded(web: SimulatedHost) -> None:
    web.load(1, ELF, None, "")
    expect_failed(
        web,
        op("/instances/web", "memory-remove", mem_items((CHUNK0, GiB))),
        errno.EBUSY,
        "loaded kernel image",
    )


def test_cmdline_with_nul(web: SimulatedHost) -> None:
    from kerf.errors import UsageError

    with pytest.raises(UsageError):
        web.load(1, ELF, None, "a\0b")


def test_riscv64_cannot_force_stop(tmp_path: Path) -> None:
    sim = SimulatedHost.create(tmp_path / "rv", dual_node_smt2(), arch="riscv64")
    sim.write_baseline(standard_baseline())
    expect_applied(sim, create("web", cpus=[2], memory=64 * MiB))
    image = make_image(b"RSC\x05")
    sim.load(1, image, None, "")
    sim.start(1)
    with pytest.raises(KernelCallError, match="not implemented on riscv64") as err:
        sim.halt(1, force=True)
    assert err.value.errno == errno.EOPNOTSUPP
    sim.halt(1)


def test_arm64_loads_an_image_not_an_elf(tmp_path: Path) -> None:
    sim = SimulatedHost.create(tmp_path / "arm", dual_node_smt2(), arch="aarch64")
    sim.write_baseline(standard_baseline())
    expect_applied(sim, create("web", cpus=[2], memory=64 * MiB))
    with pytest.raises(KernelCallError) as err:
        sim.load(1, make_elf(machine=183, body=1000), None, "")
    assert err.value.errno == errno.ENOEXEC
    sim.load(1, make_image(ARM64_MAGIC), None, "")
    assert status(sim) == "loaded"
