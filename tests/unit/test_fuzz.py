"""Hostile input to the parsers: Hypothesis fuzzing and a corpus of broken messages.

Whatever bytes arrive, the decoder answers with a SubmitRequest or with
``Undecodable`` and a reason (which becomes the dead letter's reason); the URL
functions answer or raise ``InvalidURL``; the WARC and manifest readers say
what is wrong with ``ValueError``/``None``. Nothing else escapes.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.exceptions import ArchiveLoadFailed

from archivers.errors import InvalidURL
from archivers.manifests.manifest import Manifest, read_metadata_record
from archivers.urls import canonical_url, surt, validate_url
from streams.messages.base import SourceMessage, Undecodable
from streams.messages.capture import decode_submit

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "messages"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def message(value: bytes) -> SourceMessage:
    return SourceMessage("warcflow.ingest", 0, 1, 1_764_000_000_000, None, value, ())


def submit_like() -> st.SearchStrategy[bytes]:
    """Mostly-valid SubmitRequests with one field broken, as JSON bytes."""
    field = st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=40),
        st.lists(st.text(max_size=5)),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    )
    return st.fixed_dictionaries(
        {
            "schema": st.sampled_from(["warcflow.SubmitRequest", "other"]),
            "version": st.sampled_from([1, 2, "1"]),
            "url": st.one_of(st.just("https://a.example/p"), field),
            "submitted_at": st.one_of(st.just("2026-11-25T10:00:00Z"), field),
            "request_id": st.one_of(st.just("r"), field),
            "tags": st.one_of(st.just([]), field),
            "note": st.one_of(st.none(), field),
        }
    ).map(lambda doc: json.dumps(doc).encode())


@FUZZ
@given(st.one_of(st.binary(max_size=300), submit_like(), st.text(max_size=200).map(str.encode)))
def test_the_decoder_answers_or_says_why(value):
    try:
        request = decode_submit(message(value))
    except Undecodable as exc:
        assert exc.reason and str(exc)
    else:
        validate_url(request.url)  # what it accepts is capturable
        assert request.submitted_at.tzinfo is not None


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_every_broken_message_of_the_corpus_is_refused_with_a_reason(path):
    with pytest.raises(Undecodable) as refused:
        decode_submit(message(path.read_bytes()))
    assert refused.value.reason and str(refused.value)


@FUZZ
@given(
    st.one_of(
        st.text(max_size=120),
        st.from_regex(
            r"\A(https?|HTTP|ftp|file|data|javascript)://[a-zA-Z0-9.\-\[\]:@%]{0,30}(/[^\s]{0,30})?\Z"
        ),
    )
)
def test_urls_are_canonical_or_refused(text):
    try:
        canonical = canonical_url(text)
    except InvalidURL as exc:
        assert str(exc)
        return
    assert canonical_url(canonical) == canonical  # idempotent
    assert surt(text) == surt(canonical)
    assert canonical.split(":", 1)[0] in ("http", "https")


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda junk: b"WARC/1.1\r\nWARC-Type: metadata\r\n" + junk),
        st.binary(max_size=200).map(lambda junk: gzip.compress(b"WARC/1.1\r\n" + junk)),
    )
)
def test_the_warc_metadata_reader_says_not_a_warc_or_finds_nothing(data):
    """Junk is "not a WARC" (warcio's ArchiveLoadFailed) or has no metadata
    record (None); any other exception is a crash this test reports."""
    try:
        assert read_metadata_record(io.BytesIO(data), "warcflow.capture-metadata") is None
    except ArchiveLoadFailed as exc:
        assert str(exc)


GOOD_MANIFEST = {
    "schema": "warcflow.manifest",
    "version": 1,
    "capture_id": "01M894TV61TJ0X30734E5QKMXK",
    "url": "https://a.example/p",
    "surt": "example,a)/p",
    "status": "stored",
    "submitted_at": "2026-11-25T10:00:00.000000Z",
}


def damaged_manifests() -> st.SearchStrategy[bytes]:
    """A readable manifest with one field missing, retyped or replaced, as JSON."""
    value = st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers()))
    return st.one_of(
        st.sampled_from(sorted(GOOD_MANIFEST)).map(
            lambda gone: {k: v for k, v in GOOD_MANIFEST.items() if k != gone}
        ),
        st.tuples(st.sampled_from(sorted(GOOD_MANIFEST)), value).map(
            lambda change: {**GOOD_MANIFEST, change[0]: change[1]}
        ),
    ).map(lambda doc: json.dumps(doc).encode())


@FUZZ
@given(st.one_of(st.binary(max_size=200), damaged_manifests(), st.just(b"[" * 5000)))
def test_a_damaged_manifest_is_refused_with_the_reason_or_read_whole(data):
    """Either ValueError saying why, or a manifest whose keyed fields are what
    readers rely on (text), which writes back to the same manifest."""
    try:
        manifest = Manifest.from_json(data)
    except ValueError as exc:
        assert str(exc)
        return
    for name in ("capture_id", "url", "status", "submitted_at"):
        assert isinstance(getattr(manifest, name), str), name
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_the_good_manifest_of_the_fuzzer_is_read():
    assert Manifest.from_json(json.dumps(GOOD_MANIFEST).encode()).status == "stored"
