"""kerf's state directory: records and journal round trips, damaged files, atomic writes
and the flock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerf.errors import BusyError, InputError, PermissionDeniedError, UsageError
from kerf.fsutil import atomic_write, file_lock, lock_holder
from kerf.state import (
    FileFacts,
    ImageRecord,
    InstanceRecord,
    Journal,
    PlacementRecord,
    RequestRecord,
    StateDir,
    StateFormatError,
    lock_timeout,
)
from planner.policy import CpuAffinity, MemoryPolicy

RECORD = InstanceRecord(
    "web",
    3,
    PlacementRecord((4, 5, 20), ((0, 1 << 30), (1, 2 << 30)), ("eth0_vf1",), (0, 1)),
    RequestRecord(
        3 << 30, cpu_count=3, cpu_affinity=CpuAffinity.SPREAD, memory_policy=MemoryPolicy.INTERLEAVE
    ),
    ImageRecord(
        FileFacts("/boot/vmlinuz", 100, "ab" * 32),
        "bzImage",
        "x86_64",
        "6.9.0",
        "zstd",
        FileFacts("/boot/initrd", 50, "cd" * 32),
        "console=mktty0",
        "2026-09-01T10:00:00Z",
    ),
)


def test_records_round_trip(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    state.ensure()
    state.write_record(RECORD)
    assert state.record("web") == RECORD
    assert state.records() == {"web": RECORD}
    adopted = InstanceRecord("other", 4, PlacementRecord((1,), ()))
    state.write_record(adopted)
    assert state.record_names() == ["other", "web"]
    assert state.remove_record("other") and not state.remove_record("other")
    assert state.record("missing") is None


def test_the_journal_round_trips(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "s")
    state.ensure()
    journal = Journal("update", "kerf-1", "commit", "web", RECORD, RECORD, False, "now", {"x": 1})
    state.write_journal(journal)
    assert state.journal() == journal
    state.clear_journal()
    assert state.journal() is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "not valid JSON"),
        ("[]", "should be a JSON object"),
        ('{"version": 2}', "record.version should be 1"),
        ('{"version": 1, "name": "web"}', "record.placement should be present"),
    ],
)
def test_a_damaged_record_names_the_file_and_the_fix(tmp_path: Path, content: str, problem: str) -> None:
    state = StateDir(tmp_path / "s")
    state.ensure()
    (tmp_path / "s" / "instances" / "web.json").write_text(content)
    with pytest.raises(StateFormatError, match=problem) as caught:
        state.record("web")
    assert "web.json" in caught.value.message
    assert caught.value.hint is not None and "remove it" in caught.value.hint


def test_a_wrongly_typed_field_is_named(tmp_path: Path) -> None:
    data = json.loads(json.dumps(__import__("kerf.state", fromlist=["x"]).record_to_json(RECORD)))
    data["placement"]["cpus"] = [1, "two"]
    state = StateDir(tmp_path / "s")
    state.ensure()
    (tmp_path / "s" / "instances" / "web.json").write_text(json.dumps(data))
    with pytest.raises(StateFormatError, match=r"placement.cpus should be a list of integers"):
        state.record("web")


def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_atomic_write_into_a_read_only_place_is_a_permission_error(tmp_path: Path) -> None:
    with pytest.raises((PermissionDeniedError, InputError)):
        atomic_write(Path("/proc/kerf-test"), b"x")


def test_lock_timeout_from_the_environment() -> None:
    assert lock_timeout({}) == 60.0
    assert lock_timeout({"KERF_LOCK_TIMEOUT": "2.5"}) == 2.5
    with pytest.raises(UsageError, match="not a number"):
        lock_timeout({"KERF_LOCK_TIMEOUT": "soon"})
    with pytest.raises(UsageError, match="must not be negative"):
        lock_timeout({"KERF_LOCK_TIMEOUT": "-1"})


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from kerf.fsutil import file_lock\n"
            f"with file_lock(Path({str(lock)!r}), timeout=5):\n"
            "    print('held', flush=True); time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert lock_holder(lock) == holder.pid
        started = time.monotonic()
        with (
            pytest.raises(BusyError, match=f"process {holder.pid} holds the lock"),
            file_lock(lock, timeout=0.3),
        ):
            pass
        assert time.monotonic() - started >= 0.3
    finally:
        holder.kill()  # SIGKILL: no cleanup runs
        holder.wait()
    # the kernel released the flock with the process: no stale lock
    with file_lock(lock, timeout=1):
        assert lock_holder(lock) == os.getpid()


def test_shared_locks_coexist_and_exclude_writers(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with (
        file_lock(lock, timeout=0, shared=True),
        file_lock(lock, timeout=0, shared=True),
        pytest.raises(BusyError),
        file_lock(lock, timeout=0.1),
    ):
        pass
