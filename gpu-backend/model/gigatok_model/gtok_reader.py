"""Reads GTOK token blobs and dataset manifests for training pipelines; writes the official code layout.

Depends on numpy only (and the standard library), so a training pipeline can copy this one file.
The GTOK format is specified in docs/token-format.md and written by shared/src/token-format.ts:
"GTOK", version (1), flags (0), model id length and UTF-8 id, then little-endian u32 codebook size,
u32 tokens per image, u32 image count, u8 bits per token (ceil(log2(codebook size))), the tokens
bit-packed LSB-first with zero padding, and a CRC-32C (Castagnoli) of everything before it.

    from gigatok_model.gtok_reader import read_gtok, read_manifest, write_official_codes
    tokens = read_gtok(open("train.gtok", "rb").read())   # TokenSet; tokens.tokens: [count, T] uint32
    rows = read_manifest("train.manifest.json")            # [{"row", "image", "label", "augmentation"}]
    write_official_codes(tokens, rows, "codes/", "imagenet256")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "GtokError",
    "TokenSet",
    "read_gtok",
    "read_manifest",
    "codes_by_image",
    "write_official_codes",
]

_MAGIC = b"GTOK"
_VERSIONS = (1,)
_MIN_CODEBOOK = 2
_MAX_CODEBOOK = 2**24
# Tokens unpacked per numpy step: bounds the temporary index arrays on multi-GB blobs.
_CHUNK = 1 << 22


class GtokError(ValueError):
    """A blob the format rejects; ``reason`` is the same word shared/src/token-format.ts uses."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TokenSet:
    model: str
    codebook_size: int
    tokens_per_image: int
    #: [count, tokens_per_image] uint32, row-major as written.
    tokens: np.ndarray

    @property
    def count(self) -> int:
        return int(self.tokens.shape[0])


def _crc32c_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[n] = c
    return table


_TABLE = [int(x) for x in _crc32c_table()]


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF), as shared/src/crc32c.ts."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _bits_per_token(codebook_size: int) -> int:
    return max(1, (codebook_size - 1).bit_length())


def _truncated(length: int, what: str) -> GtokError:
    return GtokError("truncated", f"blob is truncated: {length} bytes end before {what}")


def read_gtok(data: bytes | bytearray | memoryview, verify_checksum: bool = True) -> TokenSet:
    """Parses and validates a GTOK blob (every version written so far). ``verify_checksum=False`` skips
    the CRC, which runs in pure Python (tens of MB/s); every other check still runs."""
    buf = memoryview(data).cast("B")
    n = len(buf)
    for i, m in enumerate(_MAGIC):
        if i >= n:
            raise _truncated(n, "the magic")
        if buf[i] != m:
            raise GtokError("bad_magic", 'not a GTOK blob: the first 4 bytes must be "GTOK"')
    if n < 5:
        raise _truncated(n, "the version byte")
    version = buf[4]
    if version == 1:
        return _read_v1(buf, verify_checksum)
    raise GtokError(
        "unsupported_version", f"unsupported GTOK version {version}; this reader knows versions {list(_VERSIONS)}"
    )


def _read_v1(buf: memoryview, verify_checksum: bool) -> TokenSet:
    n = len(buf)
    if n < 6:
        raise _truncated(n, "the flags byte")
    if buf[5] != 0:
        raise GtokError("bad_flags", f"flags must be 0 in version 1, got {buf[5]}")
    if n < 7:
        raise _truncated(n, "the model id length")
    model_len = buf[6]
    if model_len == 0:
        raise GtokError("bad_header", "model id length must be at least 1, got 0")
    header = 7 + model_len + 13
    if n < header:
        raise _truncated(n, "the header")
    try:
        model = bytes(buf[7 : 7 + model_len]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise GtokError("bad_header", "model id is not valid UTF-8") from e
    at = 7 + model_len
    codebook_size, tokens_per_image, count = np.frombuffer(buf[at : at + 12], dtype="<u4").tolist()
    bits = buf[at + 12]
    if not _MIN_CODEBOOK <= codebook_size <= _MAX_CODEBOOK:
        raise GtokError(
            "bad_header", f"codebook size must be in [{_MIN_CODEBOOK}, {_MAX_CODEBOOK}], got {codebook_size}"
        )
    if tokens_per_image < 1:
        raise GtokError("bad_header", "tokens per image must be at least 1, got 0")
    if count < 1:
        raise GtokError("bad_header", "image count must be at least 1, got 0")
    if bits != _bits_per_token(codebook_size):
        raise GtokError(
            "bad_header",
            f"bits per token must be {_bits_per_token(codebook_size)} for codebook size {codebook_size}, got {bits}",
        )
    total = count * tokens_per_image
    payload = (total * bits + 7) // 8
    expected = header + payload + 4
    if n < expected:
        raise _truncated(n, f"the {expected} bytes the header announces")
    if n > expected:
        raise GtokError(
            "trailing_bytes", f"blob has {n - expected} bytes after the checksum (expected {expected} bytes in all)"
        )
    if verify_checksum:
        stored = int(np.frombuffer(buf[header + payload :], dtype="<u4")[0])
        actual = crc32c(buf[: header + payload])
        if stored != actual:
            raise GtokError("checksum_mismatch", f"CRC-32C mismatch: stored {stored:#010x}, computed {actual:#010x}")
    tokens = _unpack(np.frombuffer(buf[header : header + payload], dtype=np.uint8), total, bits)
    over = np.flatnonzero(tokens >= codebook_size)
    if over.size:
        i = int(over[0])
        raise GtokError(
            "token_out_of_range",
            f"token [{i // tokens_per_image}][{i % tokens_per_image}] must be in [0, {codebook_size - 1}], "
            f"got {int(tokens[i])}",
        )
    return TokenSet(model, codebook_size, tokens_per_image, tokens.reshape(count, tokens_per_image))


def _unpack(payload: np.ndarray, total: int, bits: int) -> np.ndarray:
    """LSB-first: token k is bits [k*bits, (k+1)*bits) of the stream, stream bit i = bit (i % 8) of byte
    i // 8. A token of at most 24 bits starting at bit offset s < 8 lies within 4 bytes read as a
    little-endian u32."""
    padded = np.concatenate([payload, np.zeros(4, np.uint8)]).astype(np.uint32)
    out = np.empty(total, dtype=np.uint32)
    mask = np.uint32((1 << bits) - 1)
    for start in range(0, total, _CHUNK):
        k = np.arange(start, min(total, start + _CHUNK), dtype=np.int64)
        offset = k * bits
        byte = offset >> 3
        word = padded[byte] | (padded[byte + 1] << 8) | (padded[byte + 2] << 16) | (padded[byte + 3] << 24)
        out[start : start + k.size] = (word >> (offset & 7).astype(np.uint32)) & mask
    used = total * bits
    if used % 8 and int(payload[-1]) >> (used % 8):
        raise GtokError("bad_padding", "padding bits after the last token must be zero")
    return out


_ROW_KEYS = ("row", "image", "label", "augmentation")


def read_manifest(source: str | os.PathLike[str] | dict | list) -> list[dict[str, Any]]:
    """A dataset manifest: a JSON list of row objects, or an object whose ``rows`` is that list. Each row
    names its GTOK row (``row``), source ``image``, class ``label`` (int, or null when unlabelled) and
    ``augmentation`` index (0 .. A-1); other keys are kept. Rows come back sorted by ``row``."""
    doc = source
    if isinstance(source, (str, os.PathLike)):
        doc = json.loads(Path(source).read_text(encoding="utf-8"))
    rows = doc.get("rows") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise ValueError("a manifest must be a list of rows or an object with a 'rows' list")
    for i, row in enumerate(rows):
        missing = [k for k in _ROW_KEYS if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"manifest row {i} lacks {', '.join(repr(k) for k in missing)}")
        if not isinstance(row["row"], int) or row["row"] < 0:
            raise ValueError(f"manifest row {i}: 'row' must be a non-negative integer, got {row['row']!r}")
        if not isinstance(row["augmentation"], int) or row["augmentation"] < 0:
            raise ValueError(f"manifest row {i}: 'augmentation' must be a non-negative integer")
    return sorted(rows, key=lambda r: r["row"])


def codes_by_image(tokens: TokenSet, rows: list[dict[str, Any]]) -> list[tuple[str, Any, np.ndarray]]:
    """Groups the token rows per image in first-appearance order: (image, label, codes [A, T] int64),
    codes ordered by augmentation index. Every image must have the same A views, 0 .. A-1."""
    grouped: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["row"] >= tokens.count:
            raise ValueError(f"manifest row {r['row']} is past the blob's {tokens.count} rows")
        g = grouped.setdefault(r["image"], {"label": r["label"], "views": {}})
        if r["augmentation"] in g["views"]:
            raise ValueError(f"image {r['image']!r} lists augmentation {r['augmentation']} twice")
        g["views"][r["augmentation"]] = r["row"]
    out = []
    views = None
    for image, g in grouped.items():
        order = sorted(g["views"])
        if order != list(range(len(order))) or (views is not None and len(order) != views):
            raise ValueError(f"image {image!r} has augmentations {order}, expected 0 .. {(views or len(order)) - 1}")
        views = len(order)
        codes = tokens.tokens[[g["views"][a] for a in order]].astype(np.int64)
        out.append((image, g["label"], codes))
    return out


def write_official_codes(
    tokens: TokenSet, rows: list[dict[str, Any]], out_dir: str | os.PathLike[str], prefix: str
) -> int:
    """Writes the layout LlamaGen/GigaTok's extract_codes_c2i.py writes and their training reads:
    ``<out_dir>/<prefix>_codes/<i>.npy`` of shape (1, A, T) int64 and ``<out_dir>/<prefix>_labels/<i>.npy``
    of shape (1,) int64, i in image order (``prefix`` is the extractor's ``{dataset}{image_size}``,
    e.g. ``imagenet256``). Returns the number of images written; an unlabelled image is refused."""
    out = Path(out_dir)
    codes_dir = out / f"{prefix}_codes"
    labels_dir = out / f"{prefix}_labels"
    codes_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    images = codes_by_image(tokens, rows)
    for i, (image, label, codes) in enumerate(images):
        if not isinstance(label, int):
            raise ValueError(f"image {image!r} has no integer label; the official layout needs one")
        np.save(codes_dir / f"{i}.npy", codes[None])
        np.save(labels_dir / f"{i}.npy", np.array([label], dtype=np.int64))
    return len(images)
