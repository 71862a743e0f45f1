"""Near duplicates of a clip: hashed as the media agent hashes it, indexed as the
viewer indexes it, found as `warcflow similar` asks (no services: the catalog is
a SQLite file with the hash part; the pipeline test is
tests/integration/test_similar.py)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archivers.manifests.manifest import perceptual_summary
from archivers.media import ffmpeg, pdq, perceptual
from archivers.net.recording import DigestingSpool
from archivers.warc.writer import WarcWriter
from tests.support.findmedia import VARIANTS
from viewer.catalog import Catalog
from viewer.hashindex import HashIndex
from viewer.lineage import rows_csv
from viewer.phashes import Hashes, HashRows, rows_for, score


@pytest.fixture(scope="module")
def hashed(clip_variants, tmp_path_factory) -> dict[str, perceptual.Derived]:
    out = {}
    for name, path in clip_variants.items():
        work = tmp_path_factory.mktemp(f"hash-{name}")
        out[name] = perceptual.derive_video(path, ffmpeg.probe(path), work)
    return out


def test_every_variant_is_found_and_the_unrelated_clip_is_not(hashed, tmp_path):
    catalog = Catalog(tmp_path / "c.sqlite", parts=(HashRows(),))
    for name, derived in hashed.items():
        assert derived.problems == [], name
        found = rows_for({"sha256": name, "perceptual": derived.perceptual})
        with catalog._lock:  # as Catalog.apply writes a part's rows: one transaction
            catalog._db.execute("BEGIN")
            HashRows().write(catalog._db, found)
            catalog._db.execute("COMMIT")
    index = HashIndex(catalog.query)
    query = Hashes.from_perceptual(hashed["original"].perceptual)
    matches = {m.sha256: m for m in index.search(query)}
    table = {
        name: (m.query_percent, m.match_percent, m.distance) if (m := matches.get(name)) else None
        for name in (*VARIANTS, "unrelated")
    }
    print("variant table (query %, match %, closest distance):", json.dumps(table))
    assert set(matches) == {"original", *VARIANTS}, table
    assert matches["original"].distance == 0
    for name in VARIANTS:
        m = matches[name]
        assert m.kind == "video" and m.distance <= 31
        # vPDQ's two shares: the trimmed copy is all inside the original, not the reverse
        assert m.match_percent == 100.0, (name, m)
    assert matches["trim"].query_percent < 100.0
    # the unrelated clip is far away, frame by frame: no borderline miss
    unrelated = Hashes.from_perceptual(hashed["unrelated"].perceptual)
    assert score(query, unrelated, "u", distance=90, percent=1.0) is None


def test_the_crop_is_found_by_the_centre_hash_not_the_whole_frame(hashed):
    """PDQ alone does not survive a 10 % crop: the centre-90 % hash is what finds it."""
    query = Hashes.from_perceptual(hashed["original"].perceptual)
    crop = Hashes.from_perceptual(hashed["crop"].perceptual)
    assert query is not None and crop is not None
    whole_only = Hashes(crop.kind, crop.whole, crop.centre, crop.has_centre & False,
                        crop.quality, crop.t)  # fmt: skip
    plain = Hashes(query.kind, query.whole, query.centre, query.has_centre & False,
                   query.quality, query.t)  # fmt: skip
    assert score(plain, whole_only, "crop") is None
    assert score(query, crop, "crop") is not None


def test_the_hashes_are_meta_pdq_and_the_derivation_is_a_documented_metadata_record(
    hashed, clip_variants
):
    derived = hashed["original"]
    vpdq = derived.perceptual["vpdq"]
    assert vpdq["columns"] == ["frame", "t", "quality", "pdq", "centre_pdq"]
    assert [f[1] for f in vpdq["features"]] == [0.0, 1.0, 2.0, 3.0]  # one frame a second
    assert all(len(f[3]) == 64 and len(f[4]) == 64 for f in vpdq["features"])
    assert derived.perceptual["chromaprint"]["raw"]  # the audio's fingerprint
    # our PDQ (pdqhash, which makes the centre hashes) writes hashes as vPDQ does:
    # the first frame, decoded by ffmpeg and hashed whole, is near vPDQ's own hash
    # (a byte or bit order mix-up would put it ~128 bits away)
    path = clip_variants["original"]
    w, h = ffmpeg.fit(640, 360, perceptual.HASH_SIDE)
    frame = next(iter(ffmpeg.raw_frames(path, w, h)))
    ours, quality = pdq.hash_image(pdq.rgb(frame, w, h))
    assert pdq.distance(ours, vpdq["features"][0][3]) <= 16 and quality >= 50
    out = DigestingSpool()
    writer = WarcWriter(out, "x.warc.gz")
    recorded = perceptual.write_records(
        writer,
        derived,
        source_uri="https://example.org/clip.mp4",
        source_record_id="<urn:uuid:00000000-0000-0000-0000-000000000001>",
        source_sha256="ab" * 32,
        date=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert recorded is not None and recorded["record_id"].startswith("<urn:uuid:")
    records = [
        (r.rec_type, r.rec_headers, r.content_stream().read())
        for r in ArchiveIterator(io.BytesIO(b"".join(out.chunks())))
    ]
    [(kind, headers, body)] = records
    assert kind == "metadata"
    assert headers["WARC-Target-URI"] == ("urn:warcflow:derivation:https://example.org/clip.mp4")
    assert headers["WARC-Refers-To"] == "<urn:uuid:00000000-0000-0000-0000-000000000001>"
    doc = json.loads(body)
    assert doc["schema"] == "warcflow.derivation"
    assert set(doc["tools"]) == {"vpdq", "pdqhash", "ffmpeg"}
    assert doc["vpdq"]["features"] == vpdq["features"]
    # the short form events carry names the full form by its canonical JSON's digest
    short = perceptual_summary(recorded)
    canonical = json.dumps(recorded, sort_keys=True, separators=(",", ":")).encode()
    assert short == {
        "sha256": hashlib.sha256(canonical).hexdigest(),
        "vpdq_frames": 4,
        "chromaprint": True,
        "problems": [],
    }


def test_lineage_csv_cells_a_page_chose_cannot_run_as_formulas():
    found = {"captures": [{
        "earliest": True, "captured_at": "2026-12-01T10:00:00.000000Z", "capture_id": "C",
        "media_id": "M", "kind": "direct", "post_url": "https://example.org/p",
        "post": {"author": "=HYPERLINK(\"x\")", "published_at": None, "published_at_raw": None},
        "liveness": {"state": "gone", "gone_since": "2026-12-01T11:00:00Z"},
        "match": {"algorithm": "vpdq", "query_percent": 100.0, "match_percent": 100.0,
                  "distance": 6},
        "sha256": "ab" * 32, "replay_url": None,
    }]}  # fmt: skip
    lines = rows_csv(found).splitlines()
    assert lines[0].startswith("earliest,captured_at,capture_id")
    assert "'=HYPERLINK" in lines[1] and ",gone," in lines[1]


def test_a_file_with_no_video_is_not_hashed(tmp_path: Path, clip_variants):
    audio = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_variants["original"]),
                    "-vn", "-c:a", "copy", str(audio)], check=True)  # fmt: skip
    derived = perceptual.derive_video(audio, ffmpeg.probe(audio), tmp_path)
    assert "vpdq" not in derived.perceptual and derived.perceptual["chromaprint"]["raw"]


def run_similar(tmp_path: Path, capsys, *args: str) -> tuple[int, str]:
    """`warcflow similar ARGS` by its handler, with a viewer address nothing listens on."""
    from infra.processes import free_port
    from warcflow.cli import build_parser
    from warcflow.settings import load_settings

    settings = load_settings(
        {"WARCFLOW_HOME": str(tmp_path / "home"), "WARCFLOW_VIEWER_PORT": str(free_port())}
    )
    parsed = build_parser().parse_args(["similar", *args])
    capsys.readouterr()
    code = parsed.handler(parsed, settings)
    return code, capsys.readouterr().err


def test_similar_says_what_is_wrong_with_its_input_and_when_the_viewer_is_down(
    tmp_path, capsys, clip_variants
):
    audio = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(clip_variants["trim"]),
                    "-vn", "-c:a", "copy", str(audio)], check=True)  # fmt: skip
    code, err = run_similar(tmp_path, capsys, "--file", str(audio))
    assert code == 2 and "has no video stream" in err
    code, err = run_similar(tmp_path, capsys, "--file", str(tmp_path / "missing.mp4"))
    assert code == 2 and "no such file" in err
    code, err = run_similar(tmp_path, capsys, "sha256:abc")
    assert code == 2 and "64 hex digits" in err
    code, err = run_similar(tmp_path, capsys, "sha256:" + "ab" * 32, "--capture", "X")
    assert code == 2 and "give one of" in err
    code, err = run_similar(tmp_path, capsys, "sha256:" + "ab" * 32)
    assert code == 3 and "did not answer" in err
