"""The numpy GTOK reader on blobs the TypeScript writer made (fixtures/gtok, written and held equal by
gpu-backend/test/gtok-fixtures.test.ts): shapes, every token value, the manifest, the official
`<prefix>_codes/<i>.npy` layout, and each rejection the TypeScript reader makes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from gigatok_model.gtok_reader import (
    GtokError,
    codes_by_image,
    crc32c,
    read_gtok,
    read_manifest,
    write_official_codes,
)

DIR = Path(__file__).parent / "fixtures" / "gtok"
LISTING = json.loads((DIR / "fixtures.json").read_text(encoding="utf-8"))


def _expected(f: dict) -> np.ndarray:
    r = np.arange(f["count"], dtype=np.int64)[:, None]
    c = np.arange(f["tokensPerImage"], dtype=np.int64)[None, :]
    return ((r * 7919 + c * 104729 + f["seed"]) % f["codebookSize"]).astype(np.uint32)


def test_the_listing_covers_narrow_wide_and_odd_codebooks():
    sizes = sorted(f["codebookSize"] for f in LISTING["fixtures"])
    assert sizes == [2, 1000, 16384, 2**24]


@pytest.mark.parametrize("f", LISTING["fixtures"], ids=lambda f: f["file"])
def test_reads_every_token_the_typescript_writer_wrote(f):
    ts = read_gtok((DIR / f["file"]).read_bytes())
    assert ts.model == f["model"]
    assert ts.codebook_size == f["codebookSize"]
    assert ts.tokens_per_image == f["tokensPerImage"]
    assert ts.tokens.shape == (f["count"], f["tokensPerImage"]) and ts.tokens.dtype == np.uint32
    assert np.array_equal(ts.tokens, _expected(f))


def test_crc32c_known_answer():
    # RFC 3720 B.4: 32 bytes of zeros.
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"123456789") == 0xE3069283


def _blob() -> bytearray:
    return bytearray((DIR / "flip-nano.gtok").read_bytes())


def _recrc(blob: bytearray) -> bytearray:
    blob[-4:] = struct.pack("<I", crc32c(blob[:-4]))
    return blob


def _header_at(blob: bytearray) -> int:
    return 7 + blob[6]


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda b: b.__setitem__(0, ord("X")), "bad_magic"),
        (lambda b: b.__setitem__(4, 2), "unsupported_version"),
        (lambda b: b.__setitem__(5, 1), "bad_flags"),
        (lambda b: b.__setitem__(-1, b[-1] ^ 1), "checksum_mismatch"),
        (lambda b: b.__setitem__(_header_at(b) + 30, b[_header_at(b) + 30] ^ 0x10), "checksum_mismatch"),
        (lambda b: b.__setitem__(_header_at(b) + 12, 13), "bad_header"),
    ],
    ids=["magic", "version", "flags", "crc", "payload bit", "bits per token"],
)
def test_rejects_what_the_typescript_reader_rejects(mutate, reason):
    blob = _blob()
    mutate(blob)
    with pytest.raises(GtokError) as e:
        read_gtok(bytes(blob))
    assert e.value.reason == reason


def test_rejects_truncated_and_trailing_bytes():
    blob = bytes(_blob())
    with pytest.raises(GtokError) as e:
        read_gtok(blob[:-1])
    assert e.value.reason == "truncated"
    with pytest.raises(GtokError) as e:
        read_gtok(blob + b"\0")
    assert e.value.reason == "trailing_bytes"


def test_rejects_nonzero_padding_and_out_of_range_tokens_even_with_a_valid_crc():
    one_bit = bytearray((DIR / "one-bit.gtok").read_bytes())  # 15 tokens of 1 bit: bit 15 is padding
    one_bit[-5] |= 0x80
    with pytest.raises(GtokError) as e:
        read_gtok(bytes(_recrc(one_bit)))
    assert e.value.reason == "bad_padding"
    odd = bytearray((DIR / "odd-codebook.gtok").read_bytes())  # codebook 1000 in 10 bits: 1023 is out
    at = _header_at(odd) + 13
    odd[at] = 0xFF
    odd[at + 1] |= 0x03
    with pytest.raises(GtokError) as e:
        read_gtok(bytes(_recrc(odd)))
    assert e.value.reason == "token_out_of_range"


def test_skipping_the_checksum_still_reads_the_tokens():
    blob = _blob()
    blob[-1] ^= 1
    f = LISTING["fixtures"][0]
    assert np.array_equal(read_gtok(bytes(blob), verify_checksum=False).tokens, _expected(f))


def test_manifest_groups_rows_per_image_in_augmentation_order():
    tokens = read_gtok((DIR / "flip-nano.gtok").read_bytes())
    rows = read_manifest(DIR / "flip-nano.manifest.json")
    assert [r["row"] for r in rows] == list(range(6))
    images = codes_by_image(tokens, rows)
    assert [(name, label) for name, label, _ in images] == [("img-0.png", 3), ("img-1.png", 0), ("img-2.png", 7)]
    for i, (_, _, codes) in enumerate(images):
        assert codes.shape == (2, 256) and codes.dtype == np.int64
        assert np.array_equal(codes, tokens.tokens[2 * i : 2 * i + 2])


def test_writes_the_official_extractor_layout(tmp_path):
    tokens = read_gtok((DIR / "flip-nano.gtok").read_bytes())
    rows = read_manifest(DIR / "flip-nano.manifest.json")
    assert write_official_codes(tokens, rows, tmp_path, "imagenet256") == 3
    for i, label in enumerate([3, 0, 7]):
        codes = np.load(tmp_path / "imagenet256_codes" / f"{i}.npy")
        labels = np.load(tmp_path / "imagenet256_labels" / f"{i}.npy")
        # extract_codes_c2i.py saves indices.reshape(1, num_aug, T) and the label batch of one.
        assert codes.shape == (1, 2, 256) and codes.dtype == np.int64
        assert np.array_equal(codes[0], tokens.tokens[2 * i : 2 * i + 2])
        assert labels.shape == (1,) and labels.dtype == np.int64 and int(labels[0]) == label


def test_manifest_refuses_rows_without_the_named_keys_and_uneven_views():
    with pytest.raises(ValueError, match="lacks 'label'"):
        read_manifest([{"row": 0, "image": "a", "augmentation": 0}])
    tokens = read_gtok((DIR / "flip-nano.gtok").read_bytes())
    rows = [
        {"row": 0, "image": "a", "label": 1, "augmentation": 0},
        {"row": 1, "image": "a", "label": 1, "augmentation": 1},
        {"row": 2, "image": "b", "label": 1, "augmentation": 0},
    ]
    with pytest.raises(ValueError, match="expected 0 .. 1"):
        codes_by_image(tokens, read_manifest(rows))
    with pytest.raises(ValueError, match="past the blob"):
        codes_by_image(tokens, read_manifest([{"row": 9, "image": "a", "label": 1, "augmentation": 0}]))
