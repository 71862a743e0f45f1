"""PDQ, Meta's perceptual hash of an image: 256 bits and a quality, from RGB pixels.

The hashing is Meta's reference C++ (the ``pdqhash`` package wraps it); this
module only hands it pixels and writes hashes the way Meta's tools do: 64 hex
digits, most significant word first (``Hash256::format``), so a hash here is
the hash ThreatExchange, ``pdq-photo-hasher`` and vPDQ print for the same
pixels.

Two images are near duplicates when their hashes differ in few bits: the
Hamming distance is 0 for the same pixels, typically under 31 for a re-encode,
resize or watermark, and about 128 for unrelated images. ``quality`` (0–100)
says how much structure the image has; below 50 (a flat or blank frame) a
match means little.

``CROP`` is warcflow's addition: PDQ is not robust to cropping (a 10 % crop
moved the test clip's frames 58–82 bits away), so each frame is also hashed at
its centre 90 % (``centre``): a cropped repost is near the original's centre
hash (6–10 bits there; docs/decisions/0018-find-it-again.md).
"""

from __future__ import annotations

import numpy as np
import pdqhash

CROP = 0.9
"""The centre fraction of a frame hashed besides the whole frame."""
BITS = 256

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("pdqhash")
    except PackageNotFoundError:
        return "?"


def rgb(frame: bytes, width: int, height: int) -> np.ndarray:
    """An RGB24 frame (``width * height * 3`` bytes) as an array PDQ takes."""
    return np.frombuffer(frame, dtype=np.uint8).reshape(height, width, 3)


def centre(image: np.ndarray, fraction: float = CROP) -> np.ndarray:
    """The centre ``fraction`` of ``image`` (both sides)."""
    height, width = image.shape[:2]
    dh, dw = round(height * (1 - fraction) / 2), round(width * (1 - fraction) / 2)
    return np.ascontiguousarray(image[dh : height - dh, dw : width - dw])


def hash_image(image: np.ndarray) -> tuple[str, int]:
    """(the PDQ hash as 64 hex digits, its quality 0–100) of an RGB array."""
    bits, quality = pdqhash.compute(np.ascontiguousarray(image, dtype=np.uint8))
    # pdqhash lists bit 255 first; packed big-endian that is Meta's hex form
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def to_bytes(hex_hash: str) -> bytes:
    """32 bytes of a 64-hex-digit hash; ValueError if it is not one."""
    data = bytes.fromhex(hex_hash)
    if len(data) != BITS // 8:
        raise ValueError(f"a PDQ hash is 64 hex digits, not {len(hex_hash)}")
    return data


def distance(a: str | bytes, b: str | bytes) -> int:
    """Hamming distance of two hashes (hex or bytes)."""
    x = int.from_bytes(to_bytes(a) if isinstance(a, str) else a, "big")
    y = int.from_bytes(to_bytes(b) if isinstance(b, str) else b, "big")
    return (x ^ y).bit_count()


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All Hamming distances between the rows of ``a`` (n × 32 bytes) and ``b``
    (m × 32): an n × m array."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.int32)
    xor = np.bitwise_xor(a[:, None, :], b[None, :, :])
    return _POPCOUNT[xor].sum(axis=2, dtype=np.int32)
