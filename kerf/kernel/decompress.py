"""Decompressors for kernel payloads, in the formats the kernel build produces.

The kernel build appends the uncompressed size (4 bytes) after every compressed payload,
so each decompressor stops at the end of its stream and ignores what follows. LZ4 uses
the kernel's *legacy* framing (magic 0x184c2102, then blocks each prefixed by their
little-endian compressed size), which ``lz4.frame`` does not read, so it is unpacked
block by block. zstd and lz4 need optional modules and say so when they are missing.
"""

from __future__ import annotations

import bz2
import importlib
import lzma
import struct
import zlib
from collections.abc import Callable
from enum import StrEnum
from types import ModuleType
from typing import Protocol

from kerf.kernel.errors import ImageError

MAX_OUTPUT = 1 << 30  # no kernel is this large; stops a corrupt stream from eating memory
_LZ4_LEGACY_MAGIC = 0x184C2102
_LZ4_LEGACY_BLOCK = 8 << 20  # the kernel's LZ4_DEFAULT_UNCOMPRESSED_CHUNK_SIZE


class Compression(StrEnum):
    """Compression of a payload (or ``none`` / ``unknown``)."""

    NONE = "none"
    GZIP = "gzip"
    XZ = "xz"
    LZMA = "lzma"
    BZIP2 = "bzip2"
    ZSTD = "zstd"
    LZ4 = "lz4"
    LZO = "lzo"
    UNKNOWN = "unknown"


_MAGICS: tuple[tuple[bytes, Compression], ...] = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"BZh", Compression.BZIP2),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"\x02\x21\x4c\x18", Compression.LZ4),
    (b"\x89LZO", Compression.LZO),
    (b"\x5d\x00\x00", Compression.LZMA),
)


def detect_compression(data: bytes) -> Compression | None:
    """The compression whose magic starts ``data``, or None."""
    for magic, kind in _MAGICS:
        if data.startswith(magic):
            return kind
    return None


def _too_large(what: str) -> ImageError:
    return ImageError(f"{what}: decompresses to more than {MAX_OUTPUT >> 20} MiB; not a kernel payload")


def _optional(module: str, package: str, kind: Compression, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImageError(
            f"{what} is {kind}-compressed, and the Python module '{module}' that reads it is not installed",
            hint=f"pip install {package}",
        ) from None


def _lz4_legacy(data: bytes, what: str) -> bytes:
    block = _optional("lz4.block", "lz4", Compression.LZ4, what)
    out = bytearray()
    pos = 4  # after the magic
    while pos + 4 <= len(data):
        size = struct.unpack_from("<I", data, pos)[0]
        if size == _LZ4_LEGACY_MAGIC:  # concatenated streams
            pos += 4
            continue
        if size == 0 or pos + 4 + size > len(data):
            break  # the appended uncompressed size, or the end
        try:
            out += block.decompress(data[pos + 4 : pos + 4 + size], uncompressed_size=_LZ4_LEGACY_BLOCK)
        except block.LZ4BlockError as err:
            raise ImageError(f"{what}: corrupt lz4 data at byte {pos}: {err}") from None
        if len(out) > MAX_OUTPUT:
            raise _too_large(what)
        pos += 4 + size
    return bytes(out)


def _zstd(data: bytes, what: str) -> bytes:
    zstandard = _optional("zstandard", "zstandard", Compression.ZSTD, what)
    decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj()
    try:
        out: bytes = decompressor.decompress(data)
    except zstandard.ZstdError as err:
        raise ImageError(f"{what}: corrupt zstd data: {err}") from None
    if not decompressor.eof:
        raise ImageError(f"{what}: the zstd stream is truncated")
    return out


class _Stream(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1, /) -> bytes: ...


_STDLIB: dict[Compression, Callable[[], _Stream]] = {
    Compression.GZIP: lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    Compression.XZ: lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    Compression.LZMA: lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
    Compression.BZIP2: bz2.BZ2Decompressor,
}


def decompress(data: bytes, kind: Compression, *, what: str = "payload") -> bytes:
    """Decompress one stream of ``kind``, ignoring trailing bytes; ImageError on corrupt data.

    ``what`` names the data in error messages.
    """
    if kind is Compression.ZSTD:
        out = _zstd(data, what)
    elif kind is Compression.LZ4:
        out = _lz4_legacy(data, what)
    elif kind in _STDLIB:
        stream = _STDLIB[kind]()
        try:
            out = stream.decompress(data, MAX_OUTPUT + 1)
        except (zlib.error, lzma.LZMAError, OSError, EOFError) as err:
            raise ImageError(f"{what}: corrupt {kind} data: {err}") from None
        if len(out) <= MAX_OUTPUT and not stream.eof:
            raise ImageError(f"{what}: the {kind} stream is truncated")
    else:
        raise ImageError(
            f"{what} is {kind}-compressed, which kerf cannot decompress",
            hint="rebuild the kernel with gzip, xz, lzma, bzip2, zstd or lz4 compression",
        )
    if len(out) > MAX_OUTPUT:
        raise _too_large(what)
    if not out:
        raise ImageError(f"{what}: the {kind} stream is truncated (no data decompressed)")
    return out
