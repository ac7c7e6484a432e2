"""Packing a bundle into one `.tar.gz`, and unpacking one without trusting it.

Packing is deterministic (sorted names, zero times and owners), so the same bundle packs
to the same bytes. Unpacking refuses absolute paths, `..`, links and device files: an
archive from elsewhere must not write outside its folder.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    pass


def pack(folder: Path, target: Path) -> Path:
    # gzip header without a name or a time: the same folder always packs to the same bytes
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            info = tarfile.TarInfo(name)
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return target


def safe_member_name(name: str) -> str | None:
    """The member's relative path, or None when it would escape the folder."""
    p = PurePosixPath(name)
    if (
        p.is_absolute()
        or "\\" in name
        or ":" in name  # a drive on Windows
        or any(part in ("..", "", ".") for part in name.removeprefix("./").split("/"))
    ):
        return None
    if name.startswith("./"):
        name = name[2:]
    return name or None


def unpack(archive: Path, folder: Path, *, max_bytes: int = 4 << 30) -> None:
    """Unpack `archive` into `folder`, refusing anything unsafe (UnsafeArchiveError)."""
    try:
        _unpack(archive, folder, max_bytes)
    except UnsafeArchiveError:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        # a damaged or hostile archive (truncated, a file where a folder must go) is
        # refused as a whole, never half-trusted
        raise UnsafeArchiveError(f"{archive}: not a readable tar archive ({e})") from e


def _unpack(archive: Path, folder: Path, max_bytes: int) -> None:
    total = 0
    root = folder.resolve()
    tar = tarfile.open(archive, "r:*")  # noqa: SIM115 — closed by the `with` below
    with tar:
        for m in tar:
            name = safe_member_name(m.name)
            if name is None:
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} has an unsafe path")
            if m.isdir():
                continue
            if not m.isfile():
                raise UnsafeArchiveError(
                    f"{archive}: member {m.name!r} is a link or device, not a file"
                )
            total += m.size
            if total > max_bytes:
                raise UnsafeArchiveError(f"{archive}: more than {max_bytes:,} bytes unpacked")
            src = tar.extractfile(m)
            if src is None:  # pragma: no cover - isfile() members always have data
                continue
            dest = (folder / name).resolve()
            if not dest.is_relative_to(root) or dest.exists():
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} escapes or repeats")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read())
