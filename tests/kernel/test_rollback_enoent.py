"""rmdir overlays/tx_N answering ENOENT: "already rolled back" only when the directory is
gone; otherwise the kernel refused the rollback and the transaction stays (reference §1.7)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from kerf.kernel.backend import NoSuchTransactionError, RollbackRefusedError, TxStatus, roll_back_transaction
from kerf.kernel.sim import SimulatedHost
from kerf.kernel.sysfs import SysfsBackend
from tests.kernel.simhost import cpu_items, create_op, expect_failed, fragment, overlay


def _tx_dir(root: Path, tx_id: int, status: str) -> Path:
    folder = root / "overlays" / f"tx_{tx_id}"
    folder.mkdir(parents=True)
    for name, value in (
        ("id", str(tx_id)),
        ("status", status),
        ("instance", "/instances"),
        ("resources", "x 1"),
    ):
        (folder / name).write_text(value + "\n")
    return folder


def test_sysfs_enoent_with_the_directory_still_there_is_a_refused_rollback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "mk"
    folder = _tx_dir(root, 7, "failed")
    backend = SysfsBackend(root, proc=tmp_path)

    def kernel_rmdir(path: os.PathLike[str] | str) -> None:
        # the kernel's replay met an inverse with nothing to undo: the directory stays
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))

    monkeypatch.setattr("kerf.kernel.sysfs.os.rmdir", kernel_rmdir)
    with pytest.raises(RollbackRefusedError) as err:
        roll_back_transaction(backend, 7)
    assert err.value.errno == errno.ENOENT
    assert "overlays/tx_7 stays with status failed" in err.value.message
    assert "already rolled back" not in err.value.message
    assert folder.is_dir()


def test_sysfs_enoent_for_a_directory_that_is_gone_is_already_rolled_back(tmp_path: Path) -> None:
    root = tmp_path / "mk"
    (root / "overlays").mkdir(parents=True)
    backend = SysfsBackend(root, proc=tmp_path)
    with pytest.raises(NoSuchTransactionError, match="already rolled back") as err:
        roll_back_transaction(backend, 7)
    assert err.value.errno == errno.ENOENT


def test_simulated_host_refusing_a_rollback_with_enoent(pooled: SimulatedHost) -> None:
    blob = overlay(
        fragment("0", "/instances", create_op("db", cpus=[10], memory=1 << 30)),
        fragment("1", "/instances/db", f"cpu-add {{ {cpu_items(0)} }};"),
    )
    tx = expect_failed(pooled, blob, errno.ENOENT, "CPU 0 is not in the pool")
    with pytest.raises(RollbackRefusedError) as err:
        roll_back_transaction(pooled, tx)
    assert err.value.errno == errno.ENOENT
    assert "/instances/db does not have CPU 0" in err.value.message  # the simulated kernel's reason
    assert f"overlays/tx_{tx} stays with status failed" in err.value.message
    assert pooled.transaction(tx).status is TxStatus.FAILED
    with pytest.raises(NoSuchTransactionError, match="already rolled back"):
        roll_back_transaction(pooled, 99)
