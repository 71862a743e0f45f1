"""warcflow's WARC writer, checked by two validators that are not warcio: JWAT and gowarc.

Every record type warcflow writes (warcinfo, request/response, revisit, the
screenshot's resource, metadata and TLS metadata) passes both, with every block
digest and every payload digest recomputed; one changed byte fails both, naming
the record; and a resource record carrying ``WARC-Refers-To`` (what the writer
put on screenshots before) fails both, so the rule is held by them, not by us.
The stored WARCs of the whole session are checked too (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from archivers.capture.static import capture_page
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.net.recording import DigestingSpool
from archivers.warc.writer import TLS_URN, WarcWriter, warcinfo_fields
from tests.support import warcs
from tests.support.site import png

pytestmark = pytest.mark.integration


def every_kind(site, path, *, refers_to_on_resource=False):
    """A WARC with one record of each kind warcflow writes."""
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    page = asyncio.run(capture_page(fetcher, site.url("/redirect/1")))
    spool = DigestingSpool()
    writer = WarcWriter(spool, path.name)
    writer.write_warcinfo(
        warcinfo_fields({"name": "warcflow", "version": "test"}, part_of="t", description="d"),
        utc_now(),
    )
    ids = [writer.write_exchange(exchange)[1] for exchange in page.exchanges[:-1]]
    writer.write_revisit(
        page.exchanges[-1],
        refers_to_uri=page.exchanges[-1].url,
        refers_to_date="2026-11-25T10:43:13.000000Z",
    )
    shot = png(64, 48, (10, 120, 200))
    digest = hashlib.sha256(shot).hexdigest()
    if refers_to_on_resource:  # the old screenshot record
        writer.write_record(
            "resource",
            [
                ("WARC-Target-URI", "urn:warcflow:screenshot:" + page.final.url),
                ("WARC-Payload-Digest", f"sha256:{digest}"),
                ("WARC-Refers-To", ids[-1]),
            ],
            [shot],
            len(shot),
            digest,
            content_type="image/png",
            date=utc_now(),
        )
    else:
        writer.write_resource(
            "urn:warcflow:screenshot:" + page.final.url,
            [shot],
            len(shot),
            digest,
            content_type="image/png",
            date=utc_now(),
            concurrent_to=ids[-1],
        )
    writer.write_metadata(page.final.url, {"tls": "facts"}, utc_now(), ids[-1], urn=TLS_URN)
    writer.write_metadata(page.final.url, {"schema": "x"}, utc_now(), ids[-1], refers_to=ids[-1])
    path.write_bytes(b"".join(spool.chunks()))
    return writer.records


def test_every_record_kind_passes_both_validators(site, tmp_path):
    path = tmp_path / "every-kind.warc.gz"
    records = every_kind(site, path)
    reports = warcs.assert_valid([path])
    assert {r.tool.split()[0] for r in reports} == {"jwat-warc", "gowarc"}
    for report in reports:
        assert report.records == records and report.block_digests == records
        assert report.payload_digests >= 6, report.summary()  # requests, responses, resource


@pytest.mark.parametrize("kind", [b"response", b"resource"])
def test_one_changed_byte_fails_both_and_names_the_record(site, tmp_path, kind):
    good = tmp_path / "good.warc.gz"
    every_kind(site, good)
    bad = tmp_path / "bad.warc.gz"
    uri = warcs.one_byte_changed(good, bad, kind)
    for report in warcs.check([bad]):
        assert not report.ok, report.summary()
        named = [f for f in report.findings if uri in f]
        assert any("block" in f for f in named), report.summary()
        # JWAT compares a resource's block digest only; gowarc also its payload digest
        if kind == b"response" or report.tool.startswith("gowarc"):
            assert any("payload" in f for f in named), report.summary()


def test_a_resource_record_may_not_carry_refers_to(site, tmp_path):
    path = tmp_path / "refers-to.warc.gz"
    every_kind(site, path, refers_to_on_resource=True)
    for report in warcs.check([path]):
        assert not report.ok
        assert any("WARC-Refers-To" in f for f in report.findings), report.summary()
