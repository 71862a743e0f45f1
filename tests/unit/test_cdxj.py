"""The replay index lines: the writer's, the re-read ones, webrecorder's cdxj-indexer
and pywb's own indexer agree, line for line."""

import asyncio
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from archivers.capture.static import capture_page
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.net.recording import DigestingSpool
from archivers.warc.cdxj import cdxj, cdxj_from_warc, timestamp14
from archivers.warc.writer import WarcWriter
from tests.support.indexers import cdxj_indexer, pywb_index


def write_warc(site, path):
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    page = asyncio.run(capture_page(fetcher, site.url("/redirect/1")))
    spool = DigestingSpool()
    writer = WarcWriter(spool, "x.warc.gz")
    writer.write_warcinfo({"software": "test"}, utc_now())
    for exchange in page.exchanges:
        writer.write_exchange(exchange)
    writer.write_resource(
        "urn:sha256:" + "0" * 64, [b"made"], 4, "0" * 64, content_type="video/mp4", date=utc_now()
    )
    writer.write_metadata(page.final.url, {"schema": "warcflow.capture-metadata"}, utc_now())
    data = b"".join(spool.chunks())
    return writer, data


def test_writer_index_equals_reading_the_file_and_both_indexers(site, tmp_path):
    writer, data = write_warc(site, tmp_path)
    from_writer = cdxj(writer.index_entries, "warc/x.warc.gz")
    assert from_writer == cdxj_from_warc(io.BytesIO(data), "warc/x.warc.gz")
    path = tmp_path / "warc" / "x.warc.gz"
    path.parent.mkdir()
    path.write_bytes(data)
    ours = from_writer.decode().splitlines()
    # webrecorder's indexer, with the file where the S3 key says: the same lines, same order
    assert ours == cdxj_indexer([path], tmp_path)
    # the metadata record is a line too, with the digest the indexer computes for it
    [meta] = [line for line in ours if line.startswith("urn:warcflow:metadata:")]
    assert '"mime": "application/json"' in meta and '"digest": "sha1:' in meta
    # pywb's own indexer: the same, but it writes a digest it computed without the "sha1:"
    theirs = pywb_index(path)
    assert [
        line.replace('"warc/x.warc.gz"', '"x.warc.gz"').replace('"digest": "sha1:', '"digest": "')
        for line in ours
    ] == theirs


def test_stock_pywb_replays_the_page_not_the_capture_metadata(site, tmp_path):
    """A WARC handed to someone else's pywb (or wb-manager) replays the page: the
    JSON metadata record about it is indexed under another key, so it never
    shadows the page's response at the same second."""
    _, data = write_warc(site, tmp_path)
    path = tmp_path / "x.warc.gz"
    path.write_bytes(data)
    lines = pywb_index(path)
    page_key = f"1,0,0,127:{site.port})/post/1 "
    page_lines = [line for line in lines if line.startswith(page_key)]
    assert page_lines and all('"mime": "text/html"' in line for line in page_lines), page_lines
    assert any(line.startswith("urn:warcflow:metadata:") for line in lines)


def test_lines_are_sorted_keyed_like_pywb_and_skip_requests(site, tmp_path):
    writer, _ = write_warc(site, tmp_path)
    lines = cdxj(writer.index_entries, "f").decode().splitlines()
    assert lines == sorted(lines)
    assert len(lines) == 8  # 6 responses (redirect, page, 4 requisites), a resource, the metadata
    assert any(line.startswith("1,0,0,127:") and "/post/1 " in line for line in lines)
    assert timestamp14("2026-11-25T10:43:13.819042Z") == "20261125104313"


def _pinned_by_decoding(cdx_line: str, version_id: str) -> str:
    """What ``pinned`` gives a line it cannot edit as text: decode, pin, write."""
    import json
    from urllib.parse import quote

    key, timestamp, rest = cdx_line.split(" ", 2)
    fields = json.loads(rest)
    fields["filename"] = (
        fields["filename"].partition("?")[0] + "?versionId=" + quote(version_id, safe="")
    )
    return f"{key} {timestamp} {json.dumps(fields)}"


@settings(max_examples=300, deadline=None)
@given(
    url=st.text(min_size=1, max_size=60),
    mime=st.one_of(st.none(), st.text(max_size=20)),
    filename=st.text(max_size=40),
    version=st.text(min_size=1, max_size=30),
)
def test_pinning_a_line_as_text_gives_what_decoding_it_gives(url, mime, filename, version):
    from archivers.warc.cdxj import IndexEntry, line, pinned

    entry = IndexEntry(
        "https://x.example/" + url, "2026-12-02T01:00:00Z", "response", mime, "200", None, 1, 2
    )
    written = line(entry, filename)
    assert pinned(written, version) == _pinned_by_decoding(written, version)
    assert pinned(pinned(written, version), version) == pinned(written, version)
