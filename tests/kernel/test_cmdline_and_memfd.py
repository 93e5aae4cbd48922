"""The kernel command line travels as the exact argv bytes (non-UTF-8 included); a NUL or
text that has no byte form is a usage error before any call. The memfd that carries an
extracted image is closed even when filling it fails."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path
from typing import Any

import pytest

from kerf.errors import ExitCode, UsageError
from kerf.kernel.errors import ImageError
from kerf.kernel.image import open_prepared
from kerf.kernel.syscalls import Syscaller, encode_cmdline
from kerf.kernel.sysfs import SysfsBackend


class Recorder:
    """libc's syscall(): records (number, cmdline bytes, cmdline_len) and succeeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes | None, int]] = []

    def __call__(self, number: ctypes.c_long, *args: Any) -> int:
        self.calls.append((number.value, args[3].value, args[2].value))
        return 0


def _syscaller() -> tuple[Syscaller, Recorder]:
    rec = Recorder()
    return Syscaller(rec, "x86_64", get_errno=lambda: 0), rec


def test_argv_bytes_that_are_not_utf8_reach_the_kernel_unchanged() -> None:
    argv_text = os.fsdecode(b"root=/dev/vda label=caf\xe9 \xff")  # as Python decodes sys.argv
    sc, rec = _syscaller()
    sc.load(3, None, argv_text, 1)
    assert rec.calls == [(320, b"root=/dev/vda label=caf\xe9 \xff", 27)]  # the length counts the NUL


def test_plain_utf8_text_is_sent_as_utf8() -> None:
    assert encode_cmdline("hostname=Zürich") == "hostname=Zürich".encode()


@pytest.mark.parametrize(
    ("cmdline", "words"),
    [("quiet\0init=/bin/sh", "NUL characters (one at byte 5)"), ("a\ud800b", "cannot be encoded")],
)
def test_unusable_command_lines_are_usage_errors_before_the_call(cmdline: str, words: str) -> None:
    sc, rec = _syscaller()
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)")) as err:
        sc.load(3, None, cmdline, 1)
    assert err.value.exit_code == ExitCode.USAGE
    assert rec.calls == []


# --- the memfd of an extracted image -------------------------------------------------------------


class FailingWrites:
    """Tracks memfds and makes os.write into them fail with ``failure`` after ``allow`` writes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failure: BaseException, allow: int = 0) -> None:
        self.memfds: list[int] = []
        real_create, real_write = os.memfd_create, os.write

        def create(name: str, flags: int = 0) -> int:
            fd = real_create(name, flags)
            self.memfds.append(fd)
            return fd

        def write(fd: int, data: Any) -> int:
            if fd not in self.memfds:
                return real_write(fd, data)
            nonlocal allow
            if allow <= 0:
                raise failure
            allow -= 1
            return real_write(fd, bytes(data)[:4096])  # partial: the loop must go on

        monkeypatch.setattr(os, "memfd_create", create)
        monkeypatch.setattr(os, "write", write)

    def all_closed(self) -> bool:
        for fd in self.memfds:
            try:
                os.fstat(fd)
            except OSError as err:
                assert err.errno == errno.EBADF
            else:
                return False
        return True


def test_a_failed_write_into_the_memfd_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = FailingWrites(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), allow=2)
    with (
        pytest.raises(ImageError, match=r"cannot hold the extracted image .* No space left on device"),
        open_prepared(b"\x7fELF" + b"x" * 20000),
    ):
        pytest.fail("the image must not be handed over")
    assert len(tracker.memfds) == 1
    assert tracker.all_closed()


def test_an_interrupt_while_filling_the_memfd_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = FailingWrites(monkeypatch, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt), open_prepared(b"\x7fELF" + b"x" * 100):
        pytest.fail("the image must not be handed over")
    assert tracker.all_closed()


def test_a_filled_memfd_holds_the_image_and_is_closed_afterwards(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = FailingWrites(monkeypatch, AssertionError("unused"), allow=100)
    image = b"\x7fELF" + bytes(range(256)) * 40  # several partial writes
    with open_prepared(image) as fd:
        assert os.pread(fd, len(image) + 1, 0) == image
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    assert tracker.all_closed()


def test_the_real_backend_reports_the_failure_and_makes_no_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc, rec = _syscaller()
    backend = SysfsBackend(tmp_path / "mk", proc=tmp_path, syscaller=sc)
    tracker = FailingWrites(monkeypatch, OSError(errno.ENOMEM, os.strerror(errno.ENOMEM)))
    with pytest.raises(ImageError, match="Cannot allocate memory"):
        backend.load(1, b"\x7fELF-extracted", None, "quiet")
    assert rec.calls == []
    assert tracker.all_closed()
