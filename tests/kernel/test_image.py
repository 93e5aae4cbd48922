"""Kernel images: recognition, description, extraction of what kexec takes, and errors."""

from __future__ import annotations

import hashlib
import os
import struct
import sys
from pathlib import Path

import pytest

from kerf.errors import ExitCode
from kerf.kernel.decompress import Compression
from kerf.kernel.errors import ImageError
from kerf.kernel.image import ImageFormat, inspect_image, open_prepared, prepare_image
from tests.kernel.images import (
    ARM64_MAGIC,
    BANNER_VERSION,
    BZ_VERSION,
    COMPRESSORS,
    RISCV_MAGIC,
    compress,
    make_bzimage,
    make_elf,
    make_image,
    make_zboot,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def elf() -> bytes:
    return make_elf()


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_bzimage_is_described_from_its_header(tmp_path: Path, elf: bytes, kind: str) -> None:
    data = make_bzimage(compress(kind, elf))
    path = _write(tmp_path, f"vmlinuz-{kind}", data)
    info = inspect_image(path)
    assert info.format is ImageFormat.BZIMAGE
    assert info.arch == "x86_64"
    assert info.compression == Compression(kind)
    assert info.version == BZ_VERSION
    assert info.boot_protocol == "2.15"
    assert info.size == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.path == path


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_bzimage_payload_is_extracted_to_the_embedded_elf(tmp_path: Path, elf: bytes, kind: str) -> None:
    path = _write(tmp_path, "bzImage", make_bzimage(compress(kind, elf)))
    assert prepare_image(path, "x86_64") == elf


def test_lz4_payload_spanning_several_blocks(tmp_path: Path) -> None:
    big = make_elf(body=9 << 20)  # more than one 8 MiB legacy block
    path = _write(tmp_path, "bzImage", make_bzimage(compress("lz4", big)))
    assert prepare_image(path, "amd64") == big


def test_setup_sects_zero_means_four(tmp_path: Path, elf: bytes) -> None:
    path = _write(tmp_path, "bzImage", make_bzimage(compress("gzip", elf), setup_sects=0))
    assert prepare_image(path, "x86_64") == elf


def test_bzimage_without_version_pointer_and_32_bit(tmp_path: Path, elf: bytes) -> None:
    path = _write(tmp_path, "bzImage", make_bzimage(compress("gzip", elf), version=None, xloadflags=0))
    info = inspect_image(path)
    assert info.version is None
    assert info.arch == "i386"


def test_elf_vmlinux_is_handed_over_as_the_file_itself(tmp_path: Path, elf: bytes) -> None:
    path = _write(tmp_path, "vmlinux", elf)
    info = inspect_image(path)
    assert (info.format, info.arch, info.compression, info.version) == (
        ImageFormat.ELF,
        "x86_64",
        Compression.NONE,
        BANNER_VERSION,
    )
    assert prepare_image(path, "x86_64") == path


@pytest.mark.parametrize(
    ("machine", "arch", "words"),
    [(183, "x86_64", "built for aarch64, not x86_64"), (62, "riscv64", "built for x86_64, not riscv64")],
)
def test_elf_for_another_machine_is_refused(tmp_path: Path, machine: int, arch: str, words: str) -> None:
    path = _write(tmp_path, "vmlinux", make_elf(machine=machine))
    with pytest.raises(ImageError, match=words):
        prepare_image(path, arch)


def test_arm64_needs_an_image_not_an_elf(tmp_path: Path) -> None:
    path = _write(tmp_path, "vmlinux", make_elf(machine=183))
    with pytest.raises(ImageError, match="takes an Image, not an ELF vmlinux") as err:
        prepare_image(path, "aarch64")
    assert err.value.hint


def test_32_bit_elf_is_refused_on_x86_64(tmp_path: Path) -> None:
    path = _write(tmp_path, "vmlinux", make_elf(machine=62, elf_class=1))
    with pytest.raises(ImageError, match="32-bit ELF; x86_64 needs a 64-bit one"):
        prepare_image(path, "x86_64")


def test_bzimage_whose_payload_is_not_elf(tmp_path: Path) -> None:
    path = _write(tmp_path, "bzImage", make_bzimage(compress("gzip", b"no elf here" * 100)))
    with pytest.raises(ImageError, match="decompressed bzImage payload is not an ELF file"):
        prepare_image(path, "x86_64")


@pytest.mark.parametrize(
    ("magic", "arch", "fmt"),
    [(ARM64_MAGIC, "aarch64", "arm64-image"), (RISCV_MAGIC, "riscv64", "riscv64-image")],
)
def test_images_of_arm64_and_riscv64(tmp_path: Path, magic: bytes, arch: str, fmt: str) -> None:
    image = make_image(magic)
    path = _write(tmp_path, "Image", image)
    info = inspect_image(path)
    assert (info.format.value, info.arch, info.compression, info.version) == (
        fmt,
        arch,
        Compression.NONE,
        BANNER_VERSION,
    )
    assert prepare_image(path, arch) == path
    with pytest.raises(ImageError, match=f"a {fmt} for {arch} cannot be loaded on x86_64"):
        prepare_image(path, "x86_64")


@pytest.mark.parametrize(("wrap", "compression"), [("gzip", Compression.GZIP), ("zboot", Compression.GZIP)])
def test_compressed_arm64_image_is_unwrapped(tmp_path: Path, wrap: str, compression: Compression) -> None:
    image = make_image(ARM64_MAGIC)
    data = compress("gzip", image) if wrap == "gzip" else make_zboot(image)
    path = _write(tmp_path, "vmlinuz", data)
    info = inspect_image(path)
    assert (info.format, info.compression, info.version) == (
        ImageFormat.ARM64_IMAGE,
        compression,
        BANNER_VERSION,
    )
    assert prepare_image(path, "aarch64") == image


def test_gzip_file_without_an_image_inside(tmp_path: Path) -> None:
    path = _write(tmp_path, "initrd.gz", compress("gzip", b"070701" + bytes(600)))
    with pytest.raises(ImageError, match=r"does not hold an arm64/riscv64 Image.*cpio archive"):
        inspect_image(path)


# --- what cannot be loaded -------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nowhere/vmlinuz: no such file") as err:
        inspect_image(tmp_path / "nowhere" / "vmlinuz")
    assert err.value.exit_code == ExitCode.INPUT


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a directory"):
        inspect_image(tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"is empty \(0 bytes\)"):
        inspect_image(_write(tmp_path, "vmlinuz", b""))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "vmlinuz", b"x")
    path.chmod(0)
    with pytest.raises(ImageError, match="permission denied"):
        inspect_image(path)


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"hello world, not a kernel" * 40, "unrecognised data starting with 68 65 6c 6c"),
        (b"070701" + bytes(1000), "a cpio archive"),
        (b"#!/bin/sh\necho hi\n", "a script"),
        (b"\x01\x02", "a 2-byte file, too short for a kernel header"),
    ],
)
def test_garbage_is_not_a_kernel_image(tmp_path: Path, data: bytes, found: str) -> None:
    with pytest.raises(ImageError) as err:
        inspect_image(_write(tmp_path, "junk", data))
    message = err.value.message
    assert "not a kernel image: expected bzImage (HdrS at 0x202), ELF" in message
    assert f"found {found}" in message


def test_truncated_bzimage(tmp_path: Path, elf: bytes) -> None:
    data = make_bzimage(compress("xz", elf))
    path = _write(tmp_path, "vmlinuz", data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"truncated bzImage: the header puts the payload at 0x9c0\.\."):
        inspect_image(path)


def test_bzimage_shorter_than_its_setup_header(tmp_path: Path) -> None:
    data = bytearray(0x220)
    data[0x202:0x206] = b"HdrS"
    with pytest.raises(ImageError, match="truncated bzImage: 544 bytes"):
        inspect_image(_write(tmp_path, "vmlinuz", bytes(data)))


def test_old_boot_protocol(tmp_path: Path, elf: bytes) -> None:
    path = _write(tmp_path, "vmlinuz", make_bzimage(compress("gzip", elf), protocol=0x207))
    with pytest.raises(ImageError, match=r"boot protocol 2\.07 is too old"):
        inspect_image(path)


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2", "zstd", "lzma"])
def test_truncated_payload_stream(tmp_path: Path, elf: bytes, kind: str) -> None:
    stream = COMPRESSORS[kind](elf)
    path = _write(tmp_path, "vmlinuz", make_bzimage(stream[: len(stream) // 2]))
    with pytest.raises(ImageError, match=f"(truncated|corrupt {kind})"):
        prepare_image(path, "x86_64")


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2", "zstd", "lz4"])
def test_corrupt_payload(tmp_path: Path, elf: bytes, kind: str) -> None:
    stream = bytearray(compress(kind, elf))
    for at in range(16, len(stream) - 8, 97):
        stream[at] ^= 0x5A
    path = _write(tmp_path, "vmlinuz", make_bzimage(bytes(stream)))
    with pytest.raises(ImageError, match=f"(corrupt {kind}|truncated|not an ELF)"):
        prepare_image(path, "x86_64")


def test_lzo_payload_is_recognised_but_not_supported(tmp_path: Path) -> None:
    path = _write(tmp_path, "vmlinuz", make_bzimage(b"\x89LZO\0\r\n\x1a\n" + bytes(100)))
    assert inspect_image(path).compression is Compression.LZO
    with pytest.raises(ImageError, match="lzo-compressed, which kerf cannot decompress"):
        prepare_image(path, "x86_64")


@pytest.mark.parametrize(("kind", "module"), [("zstd", "zstandard"), ("lz4", "lz4.block")])
def test_missing_optional_decompressor_is_a_clear_error(
    tmp_path: Path, elf: bytes, kind: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "vmlinuz", make_bzimage(compress(kind, elf)))
    monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    with pytest.raises(ImageError, match=f"{kind}-compressed, and the Python module") as err:
        prepare_image(path, "x86_64")
    assert err.value.hint is not None and "pip install" in err.value.hint


def test_unsupported_target_architecture(tmp_path: Path, elf: bytes) -> None:
    path = _write(tmp_path, "vmlinux", elf)
    with pytest.raises(ImageError, match="only x86_64, aarch64 and riscv64"):
        prepare_image(path, "arm")


def test_open_prepared_gives_readable_descriptors(tmp_path: Path, elf: bytes) -> None:
    with open_prepared(elf) as fd:
        assert os.read(fd, len(elf) + 1) == elf
    path = _write(tmp_path, "vmlinux", elf)
    with open_prepared(path) as fd:
        assert os.read(fd, 4) == b"\x7fELF"
    with pytest.raises(OSError):
        os.fstat(fd)  # closed on exit


# --- a real distribution kernel ---------------------------------------------------------------


def test_debian_cloud_kernel(debian_kernel: Path) -> None:
    release = debian_kernel.name.removeprefix("vmlinuz-")
    info = inspect_image(debian_kernel)
    assert info.format is ImageFormat.BZIMAGE
    assert info.arch == "x86_64"
    assert info.version is not None and info.version.startswith(release + " ")
    assert info.compression in {Compression.GZIP, Compression.XZ, Compression.ZSTD, Compression.LZ4}
    elf = prepare_image(debian_kernel, "x86_64")
    assert isinstance(elf, bytes)
    assert elf[:5] == b"\x7fELF\x02" and struct.unpack_from("<H", elf, 0x12)[0] == 62
    assert f"Linux version {release} ".encode() in elf
