"""RFC 9162 (Certificate Transparency v2, same tree as RFC 6962) Merkle trees over lines.

A sealed batch's `root` is the Merkle Tree Hash of its canonical lines. Inclusion proofs
let one row of a large batch be disclosed without the others; consistency proofs show a
tree is an append-only extension of an earlier one. Everything here is pure hashing.

`merkle_root` and `scan_lines` run in C (`telemetry._native.merkle`, built by an install
that finds a C compiler) when it is there, and in Python otherwise; both roads give the
same results (tests/telemetry/test_merkle_native.py). `NATIVE` says which one runs.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

EMPTY_ROOT = hashlib.sha256(b"").digest()


def _load_native() -> ModuleType | None:
    if os.environ.get("PILOTPROOF_PURE_PYTHON"):  # for comparing the two roads
        return None
    try:
        from telemetry._native import merkle
    except ImportError:
        return None
    return merkle


_native = _load_native()
#: whether the roots are computed by the C extension
NATIVE = _native is not None


def leaf_hash(line: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + line).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(lines: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 Merkle Tree Hash: split at the largest power of two below n.

    Args:
        lines: the leaves, each `bytes` (the C road refuses other types).
    """
    if _native is not None:
        root: bytes = _native.root(lines)
        return root
    return python_root(lines)


def python_root(lines: Sequence[bytes]) -> bytes:
    """`merkle_root` in Python: the definition the C extension is checked against."""
    sha256 = hashlib.sha256
    return _root_of_hashes([sha256(b"\x00" + x).digest() for x in lines])


@dataclass(frozen=True)
class LineScan:
    """What `scan_lines` read of a batch's text.

    Args:
        n: the number of lines: LF-separated, a final LF ending the last line (so a
            line may hold any other byte, CR included).
        root: their Merkle root.
        first_ns: the least timestamp of the lines (0 when `bad` or no lines).
        last_ns: the greatest (0 when `bad` or no lines).
        bad: the 1-based number of the first line whose text after its last space is
            not a timestamp — an optional `-` and ASCII digits, within int64; 0 when
            every line has one.
    """

    n: int
    root: bytes
    first_ns: int
    last_ns: int
    bad: int


def scan_lines(data: bytes) -> LineScan:
    """The lines of one batch's text, their Merkle root and time range, in one pass.

    Args:
        data: the batch's inflated text, as sealed.
    """
    if _native is not None:
        return LineScan(*_native.scan(data))
    return python_scan(data)


_INT64 = 1 << 63


def python_scan(data: bytes) -> LineScan:
    """`scan_lines` in Python: the definition the C extension is checked against."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    root = python_root(lines)
    times: list[int] = []
    for i, line in enumerate(lines, 1):
        ts = line.rsplit(b" ", 1)[-1]
        digits = ts[1:] if ts.startswith(b"-") else ts
        if not (digits.isdigit() and -_INT64 <= (t := int(ts)) < _INT64):
            return LineScan(len(lines), root, 0, 0, i)
        times.append(t)
    return LineScan(len(lines), root, min(times, default=0), max(times, default=0), 0)


_NODE = hashlib.sha256(b"\x01")


def _root_of_hashes(level: list[bytes]) -> bytes:
    if not level:
        return EMPTY_ROOT
    # bottom-up over the same tree: pairing left to right and carrying an odd last node
    # up unchanged gives exactly the RFC's recursive split. Hashing is inlined, and each
    # node continues a copy of a hash already fed its 0x01 prefix instead of hashing a
    # new concatenation: the sealer hashes every line, and this halves the cost per line
    # (1.3 µs → 0.7 µs on the bench machine; tests/verifier/test_known_answers.py checks it
    # against the plain definition)
    start = _NODE.copy
    while len(level) > 1:
        nxt: list[bytes] = []
        append = nxt.append
        pairs = iter(level)
        for left, right in zip(pairs, pairs, strict=False):
            h = start()
            h.update(left)
            h.update(right)
            append(h.digest())
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def inclusion_proof(lines: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]): the audit path of `lines[index]`."""
    if not 0 <= index < len(lines):
        raise IndexError(f"leaf {index} is outside a tree of {len(lines)}")
    return _path(index, [leaf_hash(x) for x in lines])


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, leaves[:k]), _root_of_hashes(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _root_of_hashes(leaves[:k])]


def verify_inclusion(
    line: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: whether `line` is leaf `index` of the tree of `size` with `root`."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(line)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistency_proof(lines: Sequence[bytes], first: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]): the tree of the first `first` lines is a prefix."""
    n = len(lines)
    if not 0 < first <= n:
        raise ValueError(f"a consistency proof needs 0 < {first} <= {n}")
    return _subproof(first, [leaf_hash(x) for x in lines], True)


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [_root_of_hashes(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _root_of_hashes(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _root_of_hashes(leaves[:k])]


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: whether the tree of `second` leaves extends the one of `first`."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node itself
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
