"""Builders of small, well-formed kernel images for the image tests.

They follow the layouts the kernel build produces: an ELF64 header with a ``Linux
version`` banner, a bzImage setup header (``HdrS``, boot protocol, setup_sects,
kernel_version pointer, xloadflags, payload offset/length) around a compressed payload
with the 4-byte uncompressed size appended, and the arm64/riscv64 Image headers.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import random
import struct

import lz4.block
import zstandard

BANNER_VERSION = "6.9.0-kerf-test"
BZ_VERSION = f"{BANNER_VERSION} (builder@tests) #1 SMP PREEMPT_DYNAMIC"


def make_elf(machine: int = 62, elf_class: int = 2, body: int = 200_000, seed: int = 1) -> bytes:
    """An ELF executable header followed by a banner and pseudo-random, compressible text."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHI", 2, machine, 1)
    header = header.ljust(64, b"\0")
    rng = random.Random(seed)
    words = [b"sched", b"irq", b"mm", b"vfs", b"net", b"kexec", b"\x90\x90", b"\x48\x89\xe5"]
    filler = b"".join(rng.choice(words) for _ in range(body // 4))[:body]
    banner = f"Linux version {BANNER_VERSION} (builder@tests) #1 SMP\n\0".encode()
    return header + filler[: body // 2] + banner + filler[body // 2 :]


def _size_append(payload: bytes, original: bytes) -> bytes:
    return payload + struct.pack("<I", len(original))


def lz4_legacy(data: bytes, block: int = 8 << 20) -> bytes:
    """The kernel's legacy LZ4 framing: magic, then (LE32 size, block) pairs."""
    out = bytearray(struct.pack("<I", 0x184C2102))
    for at in range(0, len(data), block):
        chunk = lz4.block.compress(data[at : at + block], store_size=False)
        out += struct.pack("<I", len(chunk)) + chunk
    return bytes(out)


COMPRESSORS = {
    "gzip": lambda d: gzip.compress(d, mtime=0),
    "xz": lambda d: lzma.compress(
        d,
        format=lzma.FORMAT_XZ,
        check=lzma.CHECK_CRC32,
        filters=[{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2}],
    ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "bzip2": lambda d: bz2.compress(d, 9),
    "zstd": lambda d: zstandard.ZstdCompressor(level=19).compress(d),
    "lz4": lz4_legacy,
}


def compress(kind: str, data: bytes) -> bytes:
    """``data`` compressed like the kernel build does it (size appended)."""
    return _size_append(COMPRESSORS[kind](data), data)


def make_bzimage(
    payload: bytes,
    *,
    version: str | None = BZ_VERSION,
    protocol: int = 0x20F,
    setup_sects: int = 3,
    xloadflags: int = 0x1,
    payload_offset: int = 0x1C0,
    trailer: bytes = b"\0" * 64,
) -> bytes:
    """A bzImage: boot sector + setup sectors with the header, then protected-mode code."""
    setup = bytearray((setup_sects or 4) * 512 + 512)
    setup[0x1F1] = setup_sects
    setup[0x1FE:0x200] = b"\x55\xaa"
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, protocol)
    if version is not None:
        at = 0x400
        raw = version.encode() + b"\0"
        setup[at : at + len(raw)] = raw
        struct.pack_into("<H", setup, 0x20E, at - 0x200)
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<II", setup, 0x248, payload_offset, len(payload))
    return bytes(setup) + b"\xcc" * payload_offset + payload + trailer


def make_image(magic: bytes, body: int = 50_000) -> bytes:
    """An arm64 (``ARM\\x64``) or riscv64 (``RSC\\x05``) Image with a banner inside."""
    header = bytearray(64)
    header[0x38:0x3C] = magic
    if magic == b"RSC\x05":
        header[0x30:0x38] = b"RISCV\0\0\0"
    banner = f"Linux version {BANNER_VERSION} (builder@tests) #1 SMP\n\0".encode()
    return bytes(header) + bytes(body) + banner + bytes(body)


ARM64_MAGIC = b"ARM\x64"
RISCV_MAGIC = b"RSC\x05"


def make_zboot(image: bytes) -> bytes:
    """An EFI zboot container (``MZ`` + ``zimg``) holding a gzip-compressed Image."""
    payload = gzip.compress(image, mtime=0)
    header = bytearray(0x40)
    header[0:4] = b"MZ\0\0"
    header[4:8] = b"zimg"
    struct.pack_into("<II", header, 8, 0x40, len(payload))
    header[0x18:0x1C] = b"gzip"
    return bytes(header) + payload
