"""Packing a bundle into one `.tar.gz`, and unpacking one without trusting it.

Packing is deterministic (the statement first, then sorted names; zero times and owners),
so the same bundle packs to the same bytes, and a verifier reads the signed statement
before any batch.

Unpacking streams: one pass over the compressed bytes, each member copied in 1 MiB
chunks, nothing held whole in memory. It refuses, each with its own code
(`ArchiveError.code`), before writing what it refuses:

* `E_ARCHIVE_UNSAFE` — an absolute path, `..`, a link, a device, a sparse file, a repeated
  name, or a tar extension header larger than 1 MiB;
* `E_ARCHIVE_MEMBERS` — more members than `ArchiveLimits.max_members`;
* `E_ARCHIVE_MEMBER_SIZE` — a member larger than `max_member_bytes` (seen in its header,
  before one byte of it is inflated);
* `E_ARCHIVE_SIZE` — more than `max_total_bytes` inflated in all;
* `E_ARCHIVE_RATIO` — more than `max_ratio` inflated bytes per compressed byte, once
  `ratio_after` bytes are inflated (small archives compress well for honest reasons);
* `E_BUNDLE_LAYOUT` — not a readable gzip, bzip2, xz or plain tar archive.

The `./` prefix and the `.` member that ordinary `tar -C folder .` writes are accepted.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from pydantic import BaseModel, Field

from telemetry.errors import PilotproofError
from verifier.statement import STATEMENT_FILE

_CHUNK = 1 << 20
#: a pax or GNU long-name header holds names and a few numbers; a larger one is a bomb
_MAX_HEADER_BYTES = 1 << 20


class ArchiveLimits(BaseModel):
    """How much an archive may hold before unpacking stops (each a separate refusal)."""

    max_members: int = Field(default=100_000, ge=1, description="files and folders in all")
    max_member_bytes: int = Field(default=1 << 30, ge=1, description="bytes of one member")
    max_total_bytes: int = Field(default=4 << 30, ge=1, description="bytes inflated in all")
    max_ratio: float = Field(
        default=200.0, gt=1, description="inflated bytes per compressed byte, at most"
    )
    ratio_after: int = Field(
        default=64 << 20, ge=0, description="inflated bytes before the ratio is checked"
    )


class ArchiveError(PilotproofError, ValueError):
    """An archive refused as a whole; `code` is the verifier's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


def pack(folder: Path, target: Path) -> Path:
    # gzip header without a name or a time: the same folder always packs to the same bytes
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    # the statement first (a stable sort keeps the rest in order)
    files.sort(key=lambda p: p.relative_to(folder).as_posix() != STATEMENT_FILE)
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in files:
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            with path.open("rb") as f:
                tar.addfile(info, f)
    return target


def safe_member_name(name: str) -> str | None:
    """The member's relative path (without `./`), or None when it would escape the folder.

    `""` is returned for the archive's root (`.` or `./`), which names no file."""
    while name.startswith("./"):
        name = name[2:]
    if name in ("", "."):
        return ""
    p = PurePosixPath(name)
    if (
        p.is_absolute()
        or "\\" in name
        or ":" in name  # a drive on Windows
        or "\x00" in name
        or any(part in ("..", "", ".") for part in name.rstrip("/").split("/"))
    ):
        return None
    return name.rstrip("/")


def unpack(
    archive: Path,
    folder: Path,
    *,
    limits: ArchiveLimits | None = None,
    on_file: Callable[[str, Path], None] | None = None,
) -> None:
    """Unpack `archive` into `folder`, refusing anything unsafe or too large (ArchiveError).

    `on_file(name, folder)` is called after each file is written; an exception it raises
    stops unpacking there (the verifier checks the statement this way before any batch
    is inflated)."""
    try:
        _unpack(archive, folder, limits or ArchiveLimits(), on_file)
    except ArchiveError:
        raise
    # tarfile raises plain ValueError (and kin) on malformed pax and sparse headers
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError, ValueError,
            OverflowError, UnicodeError, IndexError, KeyError) as e:  # fmt: skip
        # a damaged or hostile archive (truncated, a file where a folder must go) is
        # refused as a whole, never half-trusted
        raise ArchiveError("E_BUNDLE_LAYOUT", f"{archive}: not a readable tar archive ({e})") from e


_Source = io.BufferedIOBase | io.RawIOBase


class _Meter(io.RawIOBase):
    """Counts the bytes read through it, and stops at a total or a ratio to another."""

    def __init__(self, inner: _Source) -> None:
        self.inner = inner
        self.count = 0
        self.check: Callable[[int], None] = lambda n: None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.inner.readinto(b)
        if n:
            self.count += n
            self.check(self.count)
        return n or 0


def _decompressed(raw: _Meter, head: bytes) -> _Source:
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(cast(IO[bytes], raw))
    return raw


class _Member(tarfile.TarInfo):
    """Refuses an extension header too large to be honest before tarfile reads it whole."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        extensions = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                      tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)  # fmt: skip
        if self.type in extensions and self.size > _MAX_HEADER_BYTES:
            raise ArchiveError(
                "E_ARCHIVE_UNSAFE",
                f"a tar extension header of {self.size:,} bytes (at most {_MAX_HEADER_BYTES:,})",
            )
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member


def _unpack(
    archive: Path,
    folder: Path,
    limits: ArchiveLimits,
    on_file: Callable[[str, Path], None] | None,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    made: set[Path] = {folder}
    with archive.open("rb") as f:
        buffered = io.BufferedReader(f)
        compressed = _Meter(buffered)
        inflated = _Meter(_decompressed(compressed, buffered.peek(6)[:6]))

        # Two totals: the members' declared sizes (refused at the header, below) and every
        # byte inflated, which also counts extension headers (each ≤ 1 MiB, but as many as
        # there are members) and the data of members skipped over
        def check(total: int) -> None:
            if total > limits.max_total_bytes + (1 << 20):  # headers and padding
                raise ArchiveError(
                    "E_ARCHIVE_SIZE", f"{archive}: more than {limits.max_total_bytes:,} bytes"
                )
            if total > limits.ratio_after and total > limits.max_ratio * max(compressed.count, 1):
                raise ArchiveError(
                    "E_ARCHIVE_RATIO",
                    f"{archive}: {total:,} bytes inflated from {compressed.count:,} — more "
                    f"than {limits.max_ratio:g}× (a compression bomb)",
                )

        inflated.check = check
        members = 0
        total = 0
        tar = tarfile.open(fileobj=inflated, mode="r|", tarinfo=_Member)  # noqa: SIM115
        with tar:
            for m in tar:
                members += 1
                if members > limits.max_members:
                    raise ArchiveError(
                        "E_ARCHIVE_MEMBERS",
                        f"{archive}: more than {limits.max_members:,} members",
                    )
                name = safe_member_name(m.name)
                if name is None:
                    raise ArchiveError(
                        "E_ARCHIVE_UNSAFE", f"{archive}: member {m.name!r} has an unsafe path"
                    )
                if m.isdir():
                    continue
                if not m.isfile() or m.issparse() or name == "":
                    raise ArchiveError(
                        "E_ARCHIVE_UNSAFE",
                        f"{archive}: member {m.name!r} is a link, device or sparse file",
                    )
                if m.size > limits.max_member_bytes:
                    raise ArchiveError(
                        "E_ARCHIVE_MEMBER_SIZE",
                        f"{archive}: member {m.name!r} holds {m.size:,} bytes "
                        f"(at most {limits.max_member_bytes:,})",
                    )
                total += m.size
                if total > limits.max_total_bytes:
                    raise ArchiveError(
                        "E_ARCHIVE_SIZE",
                        f"{archive}: more than {limits.max_total_bytes:,} bytes in its members",
                    )
                _write(tar, m, folder, name, made, archive)
                if on_file is not None:
                    on_file(name, folder)


def _write(
    tar: tarfile.TarFile, m: tarfile.TarInfo, folder: Path, name: str, made: set[Path],
    archive: Path,
) -> None:  # fmt: skip
    dest = folder / name
    parent = dest.parent
    if parent not in made:
        # every folder is ours: names are checked and this unpacker never makes a link
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ArchiveError(
                "E_ARCHIVE_UNSAFE", f"{archive}: member {m.name!r} is inside a file"
            ) from None
        made.add(parent)
    src = tar.extractfile(m)
    try:
        out = dest.open("xb")
    except (FileExistsError, IsADirectoryError):
        raise ArchiveError("E_ARCHIVE_UNSAFE", f"{archive}: member {m.name!r} repeats") from None
    with out:
        if src is not None:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
