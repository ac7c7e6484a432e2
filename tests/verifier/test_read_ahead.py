"""Step 4 reads the next batch while it loads this one: same batches, same order, and a
batch changed since step 3 checked it is reported, not loaded, whatever is read ahead."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
from pathlib import Path

from verifier.verify.step4_kpis import _read_ahead


def _batches(tmp_path: Path, n: int) -> list[tuple[tuple[str, int, int], tuple[Path, str]]]:
    out = []
    for i in range(n):
        path = tmp_path / f"{i}.lp.gz"
        path.write_bytes(gzip.compress(f"m f={i}.5 {i}\n".encode()))
        out.append((("a", 0, i), (path, hashlib.sha256(path.read_bytes()).hexdigest())))
    return out


async def test_every_batch_comes_inflated_in_order(tmp_path: Path) -> None:
    batches = _batches(tmp_path, 5)
    got = [(i, key, data) async for i, key, _path, data in _read_ahead(batches)]
    assert got == [(i, ("a", 0, i), f"m f={i}.5 {i}\n".encode()) for i in range(5)]


async def test_a_changed_batch_comes_as_none_and_stopping_leaves_no_read_behind(
    tmp_path: Path,
) -> None:
    batches = _batches(tmp_path, 4)
    batches[1][1][0].write_bytes(gzip.compress(b"m f=666.0 1\n"))  # after step 3's digest
    seen = []
    async with contextlib.aclosing(_read_ahead(batches)) as reads:
        async for i, _key, _path, data in reads:
            seen.append((i, data))
            if data is None:
                break  # as step 4 does: report and stop
    assert seen == [(0, b"m f=0.5 0\n"), (1, None)]
    reads_left = [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "_inflated"]
    assert reads_left == []
