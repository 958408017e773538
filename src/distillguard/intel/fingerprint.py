"""Shareable fingerprints: values two providers can compare without exchanging the raw data.

Hashes are plain, unsalted SHA-256 so that a peer hashing the same card fingerprint or client
string gets the same digest. That is the point, and also the limit: an unsalted digest of a
guessable value (a common user agent) is no secret, it only keeps the value out of the bundle.

Template fingerprints are MinHash signatures of prompt skeletons, so near-identical templates
match without either side revealing a prompt. Every parameter that changes a signature is fixed
here and published in the STIX extension (``MINHASH_SCHEME``): two providers only compare
signatures computed the same way.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from typing import Any, Final, Literal

import numpy as np
from datasketch import MinHash

HashKind = Literal["payment", "client"]

MINHASH_SEED: Final = 1
# datasketch >= 2.0 defaults to "affine32"; earlier versions computed "legacy" signatures that
# do not compare with these. Naming the scheme keeps our signatures stable across upgrades.
MINHASH_SCHEME: Final = "affine32"
MINHASH_HASH: Final = "sha1_hash32"  # datasketch's default hash for the affine32 scheme
SHINGLE_WORDS: Final = 3
SHINGLING: Final = f"word-{SHINGLE_WORDS}"


def normalise(kind: HashKind, raw: str) -> str:
    """The form of a raw value that gets hashed.

    - ``payment``: surrounding whitespace stripped, nothing else. Processor fingerprints are
      opaque and case-sensitive tokens (Stripe's are mixed-case base62).
    - ``client``: whitespace runs collapsed to one space, stripped and lowercased. Proxies and
      SDK wrappers re-space and re-case user agents; the version numbers are kept, because
      dropping them would merge a campaign's pinned build with every user of the same SDK.
    """
    if kind == "payment":
        return raw.strip()
    if kind == "client":
        return " ".join(raw.split()).lower()
    raise ValueError(f"unknown fingerprint kind {kind!r}")


def hash_value(kind: HashKind, raw: str) -> str:
    """Lowercase SHA-256 hex of ``normalise(kind, raw)``; empty values identify nobody."""
    value = normalise(kind, raw)
    if not value:
        raise ValueError(f"empty {kind} fingerprint")
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def shingles(skeleton: str) -> list[bytes]:
    """Word 3-shingles of a skeleton (one shingle of all words when it has fewer than three).

    Words rather than characters: a scaffold is a fixed wording in a fixed order, and word
    shingles ignore how long the masked slots between the words were.
    """
    words = skeleton.split()
    if not words:
        raise ValueError("empty skeleton")
    if len(words) < SHINGLE_WORDS:
        return [" ".join(words).encode("utf-8", "surrogatepass")]
    return [
        " ".join(words[i : i + SHINGLE_WORDS]).encode("utf-8", "surrogatepass")
        for i in range(len(words) - SHINGLE_WORDS + 1)
    ]


@functools.lru_cache(maxsize=8)
def _permutations(num_perm: int) -> Any:
    """Permutation parameters, drawn once: drawing them is two thirds of a MinHash's cost."""
    perms = MinHash(num_perm=num_perm, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations
    perms.setflags(write=False)  # shared by every MinHash built from it
    return perms


def template_minhash(skeleton: str, num_perm: int = 128) -> tuple[int, ...]:
    """MinHash signature (``num_perm`` 32-bit values) of a skeleton's word 3-shingles."""
    mh = MinHash(
        num_perm=num_perm,
        seed=MINHASH_SEED,
        scheme=MINHASH_SCHEME,
        permutations=_permutations(num_perm),
    )
    mh.update_batch(shingles(skeleton))
    return tuple(int(v) for v in mh.hashvalues)


def signature_minhash(signature: tuple[int, ...]) -> Any:
    """A datasketch MinHash holding ``signature``, for LSH indexing and queries."""
    return MinHash(
        seed=MINHASH_SEED,
        scheme=MINHASH_SCHEME,
        hashvalues=np.asarray(signature, dtype=np.uint32),
        permutations=_permutations(len(signature)),
    )


def minhash_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity: the share of positions where the signatures agree."""
    if len(a) != len(b) or not a:
        raise ValueError(f"signatures of different or zero length ({len(a)} vs {len(b)})")
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def signature_digest(signature: tuple[int, ...]) -> str:
    """SHA-256 hex of a signature as big-endian uint32s: the exact-match value in the pattern."""
    try:
        packed = struct.pack(f">{len(signature)}I", *signature)
    except struct.error as exc:
        raise ValueError(f"signature values must be 32-bit unsigned integers: {exc}") from exc
    return hashlib.sha256(packed).hexdigest()
