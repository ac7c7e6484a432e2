"""Known-answer tests for our own DSSE, Ed25519 use and RFC 6962/9162 Merkle code.

Vectors: the DSSE protocol's PAE example; RFC 8032 §7.1 TEST 1–3; the RFC 6962 tree of
eight leaves used by transparency-dev/merkle (testonly/constants.go) with its inclusion
and consistency proofs (proof/verify_test.go).
"""

from __future__ import annotations

import itertools

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from telemetry.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)
from verifier import DsseError, pae, sign_envelope, verify_envelope
from verifier.dsse import b64decode_any


def test_pae_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t", "指标".encode()) == b"DSSEv1 1 t 6 " + "指标".encode()


RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_ed25519_rfc8032(secret: str, public: str, message: str, signature: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == public
    assert key.sign(bytes.fromhex(message)).hex() == signature
    key.public_key().verify(bytes.fromhex(signature), bytes.fromhex(message))


LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_rfc6962_empty_leaf_and_node_hashes() -> None:
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert merkle_root([]).hex() == ROOTS[0]
    assert leaf_hash(b"").hex() == ROOTS[1]
    assert node_hash(leaf_hash(LEAVES[0]), leaf_hash(LEAVES[1])).hex() == ROOTS[2]


@pytest.mark.parametrize("size", range(9))
def test_rfc6962_roots(size: int) -> None:
    assert merkle_root(LEAVES[:size]).hex() == ROOTS[size]


INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_rfc6962_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(LEAVES[:size], index)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size])
    assert verify_inclusion(LEAVES[index], index, size, proof, root)
    assert not verify_inclusion(LEAVES[index] + b"x", index, size, proof, root)
    assert not verify_inclusion(LEAVES[index], index, size * 2 + 1, proof, root)
    if proof:
        assert not verify_inclusion(LEAVES[index], index, size, proof[:-1], root)
    if index + 1 < size:
        assert not verify_inclusion(LEAVES[index], index + 1, size, proof, root)


CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_rfc6962_consistency_proofs(first: int, second: int, path: list[str]) -> None:
    proof = consistency_proof(LEAVES[:second], first)
    assert [p.hex() for p in proof] == path
    r1, r2 = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert verify_consistency(first, second, r1, r2, proof)
    assert not verify_consistency(first, second, r2, r1, proof)
    assert not verify_consistency(first, second, r1, r2, proof[:-1])


def test_every_proof_round_trips_up_to_eight_leaves() -> None:
    for size in range(1, 9):
        root = bytes.fromhex(ROOTS[size])
        for i in range(size):
            assert verify_inclusion(LEAVES[i], i, size, inclusion_proof(LEAVES[:size], i), root)
        for first in range(1, size + 1):
            proof = consistency_proof(LEAVES[:size], first)
            assert verify_consistency(first, size, bytes.fromhex(ROOTS[first]), root, proof)


def _mth(d: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 as written: the recursive split, hashing with leaf_hash/node_hash."""
    if len(d) == 1:
        return leaf_hash(d[0])
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return node_hash(_mth(d[:k]), _mth(d[k:]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=300))
def test_merkle_root_of_any_lines_is_the_recursive_definition(lines: list[bytes]) -> None:
    # the sealer's root is computed bottom-up with copied hash states (telemetry/merkle.py);
    # any bytes, any count, must give the RFC's tree
    assert merkle_root(lines) == _mth(lines)


def test_merkle_root_matches_the_recursive_definition_on_larger_trees() -> None:
    mth = _mth
    for n in itertools.chain(range(1, 40), (63, 64, 65, 100, 1000)):
        lines = [str(i).encode() for i in range(n)]
        assert merkle_root(lines) == mth(lines)


def test_envelope_round_trip_and_base64_variants() -> None:
    key = Ed25519PrivateKey.generate()
    env = sign_envelope(b'{"a":1}', key)
    trusted = {env.signatures[0].keyid: key.public_key()}
    assert verify_envelope(env, trusted)[0] == b'{"a":1}'
    # url-safe alphabet without padding still verifies: the signature covers the bytes
    urlsafe = env.model_copy(
        update={
            "payload": env.payload.replace("+", "-").replace("/", "_").rstrip("="),
            "signatures": [
                s.model_copy(update={"sig": s.sig.replace("+", "-").replace("/", "_").rstrip("=")})
                for s in env.signatures
            ],
        }
    )
    assert verify_envelope(urlsafe, trusted)[0] == b'{"a":1}'
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(DsseError) as e:
        verify_envelope(env, {"x" * 64: other})
    assert e.value.code == "E_ENVELOPE_SIG"
    with pytest.raises(DsseError) as e:
        verify_envelope(env.model_copy(update={"signatures": []}), trusted)
    assert e.value.code == "E_ENVELOPE_UNSIGNED"


@pytest.mark.parametrize("text", ["YQ=", "YR==", "a+b_", "YQ===", "Y Q=="])
def test_base64_variants_that_are_not_one_encoding_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="base64"):
        b64decode_any(text)
