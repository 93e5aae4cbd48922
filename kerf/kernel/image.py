"""Kernel images: recognise them, describe them, and prepare what ``kexec_file_load`` takes.

Formats recognised (kernel-interface reference §4.1 and §7):

* **bzImage** (x86): ``HdrS`` at 0x202, boot protocol version at 0x206, ``setup_sects``
  at 0x1f1, compressed payload at ``payload_offset``/``payload_length`` (0x248/0x24c,
  protocol 2.08+), version string via the ``kernel_version`` pointer at 0x20e.
* **ELF vmlinux**: 64-bit, machine matching the target architecture.
* **arm64 Image** (``ARM\\x64`` at 0x38) and **riscv64 Image** (``RSC\\x05`` at 0x38).
* Compressed wrappers of an Image: a plain gzip stream (Debian's arm64 ``vmlinuz``) and
  the EFI zboot container (``MZ`` + ``zimg``).

The x86 multikernel loader takes an ELF, so :func:`prepare_image` extracts the ELF from a
bzImage payload (gzip, xz, lzma, bzip2 with the standard library; zstd and lz4 when the
``zstandard`` / ``lz4`` modules are installed). arm64 loads an uncompressed Image.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kerf.fsutil import file_kind
from kerf.kernel.decompress import Compression, decompress, detect_compression
from kerf.kernel.errors import ImageError
from kerf.kernel.syscalls import Arch, normalize_arch


class ImageFormat(StrEnum):
    """How a kernel image file is laid out."""

    BZIMAGE = "bzImage"
    ELF = "elf"
    ARM64_IMAGE = "arm64-image"
    RISCV64_IMAGE = "riscv64-image"


@dataclass(frozen=True)
class ImageInfo:
    """What a kernel image file is. ``arch`` is a ``uname -m`` name (``x86_64``,
    ``aarch64``, ``riscv64``, ``arm``, ``i386``...) or ``unknown``; ``compression`` is
    that of the payload (bzImage) or of the wrapper (compressed Image), else ``none``."""

    path: Path
    format: ImageFormat
    arch: str
    compression: Compression
    version: str | None
    size: int
    sha256: str
    boot_protocol: str | None = None


# --- header offsets --------------------------------------------------------------------

_BZ_SETUP_SECTS = 0x1F1
_BZ_MAGIC = 0x202
_BZ_VERSION = 0x206
_BZ_KERNEL_VERSION = 0x20E
_BZ_XLOADFLAGS = 0x236
_BZ_PAYLOAD_OFFSET = 0x248
_BZ_PAYLOAD_LENGTH = 0x24C
_BZ_HEADER_END = 0x250
_XLF_KERNEL_64 = 0x1

_IMAGE_MAGIC = 0x38  # arm64 "ARM\x64", riscv "RSC\x05"
_ELF_MACHINES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv64"}
_ELF_TARGET = {Arch.X86_64: 62, Arch.AARCH64: 183, Arch.RISCV64: 243, Arch.ARM: 40}
_BANNER = b"Linux version "
_HEADER_BYTES = 4096  # enough to recognise every format from its head


@dataclass(frozen=True)
class _BzHeader:
    protocol: int
    payload_start: int
    payload_length: int
    version: str | None
    arch: str


# --- reading ---------------------------------------------------------------------------


# Far above any kernel (a vmlinux with full debug information is a few hundred MiB): a
# larger file is not one, and reading it whole would only exhaust memory.
MAX_IMAGE_BYTES = 1 << 30


def _read(path: Path) -> bytes:
    """The file's bytes, with ImageError for every way that can go wrong."""
    try:
        kind = file_kind(path.stat().st_mode)
        if kind is not None:
            raise ImageError(
                f"kernel image {path} is {kind}, not a regular file", hint="name the image file itself"
            )
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise ImageError(
                f"kernel image {path} has {path.stat().st_size} bytes, more than any kernel "
                f"(kerf reads at most {MAX_IMAGE_BYTES >> 20} MiB)",
                hint="pass the kernel itself (vmlinuz, bzImage, vmlinux or Image)",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"kernel image {path}: no such file", hint="check the --kernel path") from None
    except PermissionError:
        raise ImageError(f"kernel image {path}: permission denied", hint="run kerf as root") from None
    except OSError as err:
        raise ImageError(f"kernel image {path}: cannot read it: {err.strerror}") from None
    if not data:
        raise ImageError(f"kernel image {path} is empty (0 bytes)")
    return data


def _describe(data: bytes) -> str:
    """A short description of what the head of a non-kernel file looks like."""
    head = data[:16]
    if head.startswith((b"070701", b"070702")):
        kind = "a cpio archive (an initramfs?)"
    elif head.startswith(b"#!"):
        kind = "a script"
    elif head.startswith(b"\xd0\x0d\xfe\xed"):
        kind = "a device tree blob"
    elif head.startswith(b"MZ"):
        kind = "a PE/EFI executable without a Linux header"
    elif len(data) < 0x206:
        kind = f"a {len(data)}-byte file, too short for a kernel header"
    else:
        kind = "unrecognised data"
    return f"{kind} starting with {head.hex(' ')}"


def _not_a_kernel(path: Path, data: bytes) -> ImageError:
    return ImageError(
        f"{path}: not a kernel image: expected bzImage (HdrS at 0x202), ELF, or an arm64/riscv64 "
        f"Image (magic at 0x38), found {_describe(data)}",
        hint="pass the kernel itself (vmlinuz, bzImage, vmlinux or Image), not an initrd or config",
    )


def _parse_bzimage(path: Path, data: bytes) -> _BzHeader:
    if len(data) < _BZ_HEADER_END:
        raise ImageError(f"{path}: truncated bzImage: {len(data)} bytes, the setup header alone needs 592")
    protocol = struct.unpack_from("<H", data, _BZ_VERSION)[0]
    if protocol < 0x208:
        raise ImageError(
            f"{path}: bzImage boot protocol {protocol >> 8}.{protocol & 0xFF:02d} is too old "
            f"(2.08 or newer carries the payload location)"
        )
    setup_sects = data[_BZ_SETUP_SECTS] or 4  # 0 means 4 for historical reasons
    payload_offset, payload_length = struct.unpack_from("<II", data, _BZ_PAYLOAD_OFFSET)
    start = (setup_sects + 1) * 512 + payload_offset
    if payload_length == 0 or start + payload_length > len(data):
        raise ImageError(
            f"{path}: truncated bzImage: the header puts the payload at "
            f"{start:#x}..{start + payload_length:#x} but the file has {len(data)} bytes"
        )
    version = None
    pointer = struct.unpack_from("<H", data, _BZ_KERNEL_VERSION)[0]
    if pointer:
        at = 0x200 + pointer
        end = data.find(b"\0", at, at + 512)
        if at < len(data) and end > at:
            version = data[at:end].decode("ascii", "replace")
    xloadflags = struct.unpack_from("<H", data, _BZ_XLOADFLAGS)[0] if protocol >= 0x20C else 0
    arch = "x86_64" if xloadflags & _XLF_KERNEL_64 else "i386"
    return _BzHeader(protocol, start, payload_length, version, arch)


def _elf_arch(data: bytes) -> tuple[int, str]:
    """(ELF class, architecture name) of an ELF file."""
    if len(data) < 0x14:
        return 0, "unknown"
    elf_class = data[4]
    order = "<" if data[5] == 1 else ">"
    machine = struct.unpack_from(f"{order}H", data, 0x12)[0]
    return elf_class, _ELF_MACHINES.get(machine, f"machine {machine}")


def _banner_version(data: bytes) -> str | None:
    """The version from the ``Linux version X ...`` banner compiled into a kernel."""
    at = data.find(_BANNER)
    if at < 0:
        return None
    end = data.find(b" ", at + len(_BANNER))
    if end < 0:
        return None
    return data[at + len(_BANNER) : end].decode("ascii", "replace") or None


def _image_arch(data: bytes) -> tuple[ImageFormat, str] | None:
    if len(data) >= 0x40 and data[_IMAGE_MAGIC : _IMAGE_MAGIC + 4] == b"ARM\x64":
        return ImageFormat.ARM64_IMAGE, "aarch64"
    if len(data) >= 0x40 and data[_IMAGE_MAGIC : _IMAGE_MAGIC + 4] == b"RSC\x05":
        return ImageFormat.RISCV64_IMAGE, "riscv64"
    return None


def _unwrap_image(path: Path, data: bytes) -> tuple[bytes, Compression] | None:
    """The Image inside a gzip stream or an EFI zboot container, or None when not wrapped."""
    if data[:4] == b"MZ\0\0" and data[4:8] == b"zimg":
        offset, size = struct.unpack_from("<II", data, 8)
        kind = data[0x18:0x20].rstrip(b"\0").decode("ascii", "replace")
        payload = data[offset : offset + size]
        compression = detect_compression(payload)
        if compression is None or len(payload) != size:
            raise ImageError(f"{path}: EFI zboot image with an unreadable {kind!r} payload")
        return decompress(payload, compression, what=str(path)), compression
    compression = detect_compression(data)
    if compression is Compression.GZIP:
        return decompress(data, compression, what=str(path)), compression
    return None


# --- public API --------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inspect_image(path: str | Path) -> ImageInfo:
    """Describe a kernel image file; ImageError when it is missing, unreadable or not a kernel.

    A bzImage is described from its header without decompressing the payload.
    """
    path = Path(path)
    data = _read(path)
    size, digest = len(data), _sha256(data)
    if data[_BZ_MAGIC : _BZ_MAGIC + 4] == b"HdrS":
        header = _parse_bzimage(path, data)
        payload = data[header.payload_start : header.payload_start + header.payload_length]
        compression = detect_compression(payload) or Compression.UNKNOWN
        protocol = f"{header.protocol >> 8}.{header.protocol & 0xFF:02d}"
        return ImageInfo(
            path, ImageFormat.BZIMAGE, header.arch, compression, header.version, size, digest, protocol
        )
    if data[:4] == b"\x7fELF":
        elf_class, arch = _elf_arch(data)
        if elf_class not in (1, 2):
            raise ImageError(f"{path}: ELF file with an invalid class byte {elf_class}")
        return ImageInfo(path, ImageFormat.ELF, arch, Compression.NONE, _banner_version(data), size, digest)
    found = _image_arch(data)
    if found is not None:
        fmt, arch = found
        return ImageInfo(path, fmt, arch, Compression.NONE, _banner_version(data), size, digest)
    unwrapped = _unwrap_image(path, data)
    if unwrapped is not None:
        inner, compression = unwrapped
        found = _image_arch(inner)
        if found is None:
            raise ImageError(
                f"{path}: a {compression}-compressed file that does not hold an arm64/riscv64 Image "
                f"(found {_describe(inner)})"
            )
        fmt, arch = found
        return ImageInfo(path, fmt, arch, compression, _banner_version(inner), size, digest)
    raise _not_a_kernel(path, data)


def _check_elf(path: Path, elf: bytes, arch: Arch, what: str) -> None:
    if elf[:4] != b"\x7fELF":
        raise ImageError(f"{path}: {what} is not an ELF file (found {_describe(elf)})")
    elf_class, elf_arch = _elf_arch(elf)
    wanted_class = 1 if arch is Arch.ARM else 2
    if elf_class != wanted_class:
        raise ImageError(
            f"{path}: {what} is a {32 * elf_class}-bit ELF; {arch} needs a {32 * wanted_class}-bit one"
        )
    if struct.unpack_from("<H" if elf[5] == 1 else ">H", elf, 0x12)[0] != _ELF_TARGET[arch]:
        raise ImageError(f"{path}: {what} is built for {elf_arch}, not {arch}")


def prepare_image(path: str | Path, arch: str | Arch) -> bytes | Path:
    """What to hand to ``kexec_file_load`` for ``arch``: the file itself (``Path``) when it is
    already in the loader's format, else the extracted image (``bytes``).

    x86-64 takes an ELF vmlinux (extracted from a bzImage); arm64 takes an uncompressed Image
    (unwrapped from gzip / EFI zboot); riscv64 takes an Image or an ELF.
    """
    path = Path(path)
    target = arch if isinstance(arch, Arch) else normalize_arch(arch)
    info = inspect_image(path)
    if target is Arch.X86_64:
        if info.format is ImageFormat.ELF:
            _check_elf(path, path.read_bytes(), target, "the ELF image")
            return path
        if info.format is ImageFormat.BZIMAGE:
            data = _read(path)
            header = _parse_bzimage(path, data)
            payload = data[header.payload_start : header.payload_start + header.payload_length]
            compression = detect_compression(payload)
            if compression is None:
                raise ImageError(
                    f"{path}: the bzImage payload uses an unknown compression "
                    f"(starts with {payload[:8].hex(' ')})"
                )
            elf = decompress(payload, compression, what=f"{path} payload")
            _check_elf(path, elf, target, "the decompressed bzImage payload")
            return elf
    elif target in (Arch.AARCH64, Arch.RISCV64):
        wanted = ImageFormat.ARM64_IMAGE if target is Arch.AARCH64 else ImageFormat.RISCV64_IMAGE
        if info.format is wanted:
            if info.compression is Compression.NONE:
                return path
            unwrapped = _unwrap_image(path, _read(path))
            assert unwrapped is not None  # inspect_image found a wrapper
            return unwrapped[0]
        if info.format is ImageFormat.ELF and target is Arch.RISCV64:
            _check_elf(path, path.read_bytes(), target, "the ELF image")
            return path
        if info.format is ImageFormat.ELF:
            raise ImageError(
                f"{path}: the arm64 multikernel loader takes an Image, not an ELF vmlinux",
                hint="use arch/arm64/boot/Image (or the distribution's vmlinuz)",
            )
    else:
        raise ImageError(f"kerf cannot prepare kernel images for {target}: only x86_64, aarch64 and riscv64")
    raise ImageError(
        f"{path}: a {info.format} for {info.arch} cannot be loaded on {target}",
        hint="use a kernel built for the host's architecture",
    )


@contextmanager
def open_prepared(prepared: bytes | Path, name: str = "kerf-vmlinux") -> Iterator[int]:
    """A read-only file descriptor for :func:`prepare_image`'s result (a memfd for bytes)."""
    if isinstance(prepared, Path):
        try:
            fd = os.open(prepared, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as err:
            raise ImageError(f"{prepared}: cannot open: {err.strerror}") from None
    else:
        fd = _memfd_holding(prepared, name)
    try:
        yield fd
    finally:
        os.close(fd)


def _memfd_holding(data: bytes, name: str) -> int:
    """A memfd holding ``data``, positioned at its start. The descriptor is closed again when
    filling it fails (ENOSPC/ENOMEM on a large image, or Ctrl-C), so nothing leaks."""
    try:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
    except OSError as err:
        raise ImageError(f"cannot create a memory file for the extracted image: {err.strerror}") from None
    filled = False
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        filled = True
    except OSError as err:
        raise ImageError(
            f"cannot hold the extracted image ({len(data)} bytes) in memory: {err.strerror}",
            hint="free memory, or load an image the kernel takes as it is (an ELF vmlinux on x86)",
        ) from None
    finally:
        if not filled:
            os.close(fd)
    return fd
