"""Golden overlays: `dtc -I dtb -O dts` of every blob kerf writes equals the reviewed text.

The expected files under golden/ were checked by hand against the kernel reference
(§3.1-§3.4): target-path on every fragment, u64 CPU cells, memory items as <base size>,
one operation (and one item) per blob in the order given, one page per blob.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kerf.overlay import build_transactions
from tests.overlay.cases import CASES, TAG

GOLDEN = Path(__file__).parent / "golden"
EXPECTED_COUNTS = {"create_small": 3, "create_split": 3, "update_delta": 7, "delete": 1, "device_handover": 2}


def _dtc() -> str:
    path = shutil.which("dtc")
    if path is None:
        if os.environ.get("KERF_REQUIRE_TOOLS") == "1":
            pytest.fail("dtc is required (KERF_REQUIRE_TOOLS=1) but is not installed")
        pytest.skip("dtc is not installed")
    return path


@pytest.mark.tools
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_blob_decompiles_to_the_golden_text(case: str) -> None:
    dtc = _dtc()
    transactions = build_transactions(CASES[case](), tag=TAG)
    assert len(transactions) == EXPECTED_COUNTS[case]
    for number, tx in enumerate(transactions, start=1):
        assert len(tx.blob) <= 4096
        text = subprocess.run(
            [dtc, "-q", "-I", "dtb", "-O", "dts", "-"], input=tx.blob, capture_output=True, check=True
        ).stdout.decode()
        expected = (GOLDEN / f"{case}.{number}.dts").read_text()
        assert text == expected, f"{case} transaction {number} differs from golden/{case}.{number}.dts"


def test_every_golden_file_belongs_to_a_case() -> None:
    files = {p.name for p in GOLDEN.glob("*.dts")}
    wanted = {f"{case}.{n}.dts" for case, count in EXPECTED_COUNTS.items() for n in range(1, count + 1)}
    assert files == wanted
