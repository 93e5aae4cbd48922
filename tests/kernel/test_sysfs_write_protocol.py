"""How the real backend writes to the kernel: one ``write()`` per blob, opened write-only
without truncation or append, short writes detected; kernels with pages other than 4 KiB
refused before a byte is written; kernel text that is not UTF-8 read without crashing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kerf.kernel.errors import KernelCallError
from kerf.kernel.sysfs import SysfsBackend, UnsupportedPageSizeError, check_page_size


@pytest.fixture
def backend(tmp_path: Path) -> SysfsBackend:
    root = tmp_path / "mk"
    (root / "overlays").mkdir(parents=True)
    (root / "overlays" / "new").write_bytes(b"")
    (root / "device_tree").write_bytes(b"")
    proc = tmp_path / "proc"
    proc.mkdir()
    return SysfsBackend(root, proc=proc)


class WriteSpy:
    """Wraps os.open/os.write: records the open flags and every write to kernel files under
    ``root``; ``short`` bytes are withheld from each such write, and ``on_write`` runs after it
    (the kernel creating its transaction directory)."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, root: Path, short: int = 0, on_write: Any = None
    ) -> None:
        self.opens: list[tuple[str, int]] = []
        self.writes: list[tuple[str, bytes]] = []
        self._paths: dict[int, str] = {}
        real_open, real_write = os.open, os.write

        def spy_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, *args, **kwargs)
            if str(path).startswith(str(root)):
                self.opens.append((str(path), flags))
                self._paths[fd] = str(path)
            return fd

        def spy_write(fd: int, data: Any) -> int:
            path = self._paths.get(fd)
            if path is None:
                return real_write(fd, data)
            payload = bytes(data)[: len(data) - short] if short else bytes(data)
            self.writes.append((path, bytes(data)))
            written = real_write(fd, payload)
            if on_write is not None:
                on_write()
            return written

        monkeypatch.setattr(os, "open", spy_open)
        monkeypatch.setattr(os, "write", spy_write)


def _kernel_creates_tx(root: Path, tx: int) -> Any:
    def create() -> None:
        folder = root / "overlays" / f"tx_{tx}"
        folder.mkdir()
        for name, value in (
            ("id", str(tx)),
            ("status", "applied"),
            ("instance", "/resources"),
            ("resources", "t"),
        ):
            (folder / name).write_text(value + "\n")

    return create


def _assert_write_only(flags: int) -> None:
    assert flags & os.O_ACCMODE == os.O_WRONLY
    assert not flags & (os.O_TRUNC | os.O_APPEND | os.O_CREAT)


def test_an_overlay_goes_out_in_exactly_one_write(
    backend: SysfsBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = bytes(range(256)) * 12  # 3072 bytes: one page holds it
    spy = WriteSpy(monkeypatch, backend.root, on_write=_kernel_creates_tx(backend.root, 2))
    tx = backend.write_overlay(blob)
    assert tx.id == 2 and tx.applied
    new = str(backend.root / "overlays" / "new")
    assert spy.writes == [(new, blob)]
    [(path, flags)] = spy.opens
    assert path == new
    _assert_write_only(flags)


def test_the_baseline_goes_out_in_exactly_one_write(
    backend: SysfsBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = b"\xd0\x0d\xfe\xed" + b"B" * 70000  # far more than a page: still one write()
    spy = WriteSpy(monkeypatch, backend.root)
    backend.write_baseline(blob)
    target = str(backend.root / "device_tree")
    assert spy.writes == [(target, blob)]
    [(_, flags)] = spy.opens
    _assert_write_only(flags)


@pytest.mark.parametrize("what", ["overlay", "baseline"])
def test_a_short_write_is_an_error(backend: SysfsBackend, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    spy = WriteSpy(monkeypatch, backend.root, short=1)
    with pytest.raises(KernelCallError, match="the kernel took only 99 of 100 bytes"):
        if what == "overlay":
            backend.write_overlay(b"o" * 100)
        else:
            backend.write_baseline(b"b" * 100)
    assert len(spy.writes) == 1  # no continuation write: the kernel would reject it


def _fake_page_size(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    real = os.sysconf

    def sysconf(name: str | int) -> int:
        return size if name == "SC_PAGE_SIZE" else real(name)

    monkeypatch.setattr(os, "sysconf", sysconf)


@pytest.mark.parametrize("size", [16384, 65536])
def test_a_kernel_with_larger_pages_is_refused_before_writing(
    backend: SysfsBackend, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    _fake_page_size(monkeypatch, size)
    spy = WriteSpy(monkeypatch, backend.root)
    with pytest.raises(UnsupportedPageSizeError, match=f"{size}-byte pages.*4096-byte pages") as err:
        backend.write_baseline(b"\xd0\x0d\xfe\xed")
    assert err.value.hint is not None and "4 KiB pages" in err.value.hint
    with pytest.raises(UnsupportedPageSizeError):
        backend.write_overlay(b"\xd0\x0d\xfe\xed")
    assert spy.opens == [] and spy.writes == []


def test_four_kib_pages_pass() -> None:
    check_page_size(4096)
    with pytest.raises(UnsupportedPageSizeError):
        check_page_size(65536)


def test_kimage_with_command_line_bytes_that_are_not_utf8(backend: SysfsBackend) -> None:
    (backend.proc / "kimage").write_bytes(
        b"MK_ID  Type        Start Address   Segments  Mode  Cmdline\n"
        b"-----  ----------  --------------  --------  ----  -------\n"
        b'    1  multikernel  0x000040000000         2  file  "root=/dev/vda a\xffb"\n'
    )
    [row] = backend.kimage()
    assert row.cmdline == "root=/dev/vda a\ufffdb"


def test_mounts_with_a_path_that_is_not_utf8(backend: SysfsBackend) -> None:
    (backend.proc / "mounts").write_bytes(
        b"tmpfs /mnt/caf\xe9 tmpfs rw 0 0\n" + f"none {backend.root} multikernel rw 0 0\n".encode()
    )
    assert backend.ensure_mounted() is False  # found, and nothing to mount
