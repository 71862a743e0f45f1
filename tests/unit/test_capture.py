"""Page capture into a WARC, through the capture protocol, on the in-package fake store.

The site is a real loopback HTTP server; the store is ``MemoryStore`` (this is
a unit test of archivers.capture; the integration tests use the real server).
"""

import asyncio
import gzip
import hashlib
import io
import json
import subprocess
import sys
import zlib

import pytest
from warcio.archiveiterator import ArchiveIterator

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.clock import utc_now
from archivers.errors import FetchUnavailable, PolicyRefused
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore
from tests.support.pages import AGENT, make, request_for
from tests.support.site import POST_HTML, Route


def records(data: bytes):
    out = []
    for record in ArchiveIterator(io.BytesIO(data), check_digests="raise"):
        out.append((record.rec_type, record.rec_headers, record.content_stream().read()))
    return out


def test_page_and_requisites_are_captured_into_a_valid_warc(site, tmp_path):
    archiver, store = make(site)
    result = asyncio.run(archiver.capture(request_for(site.url("/post/1"))))
    manifest = result.manifest
    assert result.created and manifest.status == "stored" and manifest.http_status == 200
    data = store.get_bytes(manifest.warc_key)
    assert manifest.sha256 == hashlib.sha256(data).hexdigest() and manifest.size == len(data)

    found = records(data)
    assert [r[0] for r in found][:3] == ["warcinfo", "request", "response"]
    assert found[-1][0] == "metadata"
    responses = {h.get_header("WARC-Target-URI"): body for t, h, body in found if t == "response"}
    assert responses[site.url("/post/1")] == POST_HTML.encode()
    for path in ("/static/site.css", "/static/photo.png", "/static/app.js", "/static/bg.png"):
        assert responses[site.url(path)] == site.routes[path].body
    for rec_type, headers, _ in found:
        assert headers.protocol == "WARC/1.1"
        assert headers.get_header("WARC-Block-Digest").startswith("sha256:")
        if rec_type in ("request", "response"):
            assert headers.get_header("WARC-IP-Address") == "127.0.0.1"
            assert headers.get_header("WARC-Payload-Digest").startswith("sha256:")
            assert headers.get_header("WARC-Concurrent-To")
            assert len(headers.get_header("WARC-Date")) == len("2026-11-25T10:00:00.000000Z")
    meta = json.loads(found[-1][2])
    assert meta["provenance"] == {"topic": "warcflow.ingest", "partition": 0, "offset": 1}
    assert meta["request"]["tags"] == ["kazan"]
    assert meta["requisites"] == {"fetched": 4, "failed": 0}

    path = tmp_path / "capture.warc.gz"
    path.write_bytes(data)
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digest pass") == len(found)


def test_every_record_is_its_own_gzip_member(site):
    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/post/1")))).manifest
    data = store.get_bytes(manifest.warc_key)
    members, rest = 0, data
    while rest:
        member = zlib.decompressobj(31)
        member.decompress(rest)
        rest = member.unused_data
        members += 1
    assert members == len(records(data))


def first_response_raw(data: bytes) -> tuple[bytes, bytes]:
    """(payload as on the wire, payload as warcio decodes it) of the first response."""
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type == "response":
            raw = record.raw_stream.read()
            break
    for record in ArchiveIterator(io.BytesIO(data)):
        if record.rec_type == "response":
            return raw, record.content_stream().read()
    raise AssertionError("no response record")


def test_chunked_and_gzip_responses_keep_their_wire_bytes(site):
    archiver, store = make(site)
    chunked = asyncio.run(archiver.capture(request_for(site.url("/chunked"), 1))).manifest
    raw, decoded = first_response_raw(store.get_bytes(chunked.warc_key))
    assert raw.startswith(b"64\r\n") and raw.endswith(b"0\r\n\r\n")  # chunk framing kept
    assert decoded == POST_HTML.encode()
    gzipped = asyncio.run(archiver.capture(request_for(site.url("/gzip"), 2))).manifest
    raw, decoded = first_response_raw(store.get_bytes(gzipped.warc_key))
    assert gzip.decompress(raw) == POST_HTML.encode()  # stored compressed, as served
    assert decoded == POST_HTML.encode()


def test_redirects_are_followed_and_each_hop_recorded(site):
    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/redirect/1")))).manifest
    assert manifest.final_url == site.url("/post/1")
    assert manifest.redirects == [site.url("/redirect/1"), site.url("/post/1")]
    uris = [
        h.get_header("WARC-Target-URI")
        for t, h, _ in records(store.get_bytes(manifest.warc_key))
        if t == "response"
    ]
    assert uris[:2] == [site.url("/redirect/1"), site.url("/post/1")]


def test_same_request_twice_stores_one_capture(site):
    archiver, store = make(site)
    request = request_for(site.url("/post/1"))
    first = asyncio.run(archiver.capture(request))
    second = asyncio.run(archiver.capture(request))
    assert first.created and not second.created
    assert second.manifest == first.manifest
    assert sum(1 for k in store.objects if k.startswith("warc/")) == 1
    assert site.count("/post/1") == 1  # the second call did not even fetch


def test_warc_stored_but_manifest_lost_is_recovered_from_the_warc(site):
    archiver, store = make(site)
    request = request_for(site.url("/post/1"))
    first = asyncio.run(archiver.capture(request))
    del store.objects[layout.manifest_key(request.url, request.capture_id)]  # crash before manifest
    again = asyncio.run(archiver.capture(request))
    assert again.created
    assert again.manifest.sha256 == first.manifest.sha256
    assert again.manifest.fetched_at == first.manifest.fetched_at  # from the stored WARC


def test_http_404_is_kept_as_evidence_and_marked_failed(site):
    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/gone")))).manifest
    assert manifest.status == "failed" and manifest.reason == "http_404"
    assert manifest.warc_key in store.objects


def test_http_503_is_retryable_and_stores_nothing(site):
    site.routes["/busy"] = Route(b"busy", status=503)
    archiver, store = make(site)
    with pytest.raises(FetchUnavailable) as caught:
        asyncio.run(archiver.capture(request_for(site.url("/busy"))))
    assert caught.value.reason == "http_503"
    assert store.objects == {}


def test_policy_refusal_is_permanent_and_recordable(site):
    archiver, _store = make(site)
    request = request_for("http://127.0.0.1:1/private")
    with pytest.raises(PolicyRefused) as caught:
        asyncio.run(archiver.capture(request))
    failed = asyncio.run(
        archiver.record_failure(request, reason=caught.value.reason, message=str(caught.value))
    )
    assert failed.manifest.status == "failed" and failed.manifest.reason == "policy_refused"
    assert failed.manifest.warc_key is None


def test_refused_requisite_is_recorded_not_fatal(site):
    site.routes["/post/2"] = Route(b'<img src="http://127.0.0.1:1/x.png"><p>text</p>')
    archiver, _store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/post/2")))).manifest
    assert manifest.status == "stored"
    assert manifest.requisites == {"fetched": 0, "failed": 1}


def test_who_asked_for_which_case_and_why_is_in_the_warc_manifest_and_summary(site):
    from streams.messages.capture import SubmitRequest

    archiver, store = make(site)
    submitted = SubmitRequest.new(
        site.url("/post/1"),
        submitted_at=utc_now(),
        tags=("kazan",),
        operator="anna",
        case_id="KZN-17",
        purpose="protest footage",
    )
    plain = request_for(submitted.url)
    request = CaptureRequest(
        plain.capture_id,
        submitted.url,
        submitted.submitted_at,
        request=submitted.describe(),
        provenance=plain.provenance,
    )
    manifest = asyncio.run(archiver.capture(request)).manifest
    meta = json.loads(records(store.get_bytes(manifest.warc_key))[-1][2])
    for doc in (meta["request"], manifest.request):
        assert (doc["operator"], doc["case_id"], doc["purpose"]) == (
            "anna",
            "KZN-17",
            "protest footage",
        )
    summary = manifest.summary()
    assert (summary["operator"], summary["case_id"], summary["purpose"]) == (
        "anna",
        "KZN-17",
        "protest footage",
    )


def test_the_posts_own_identity_is_kept_apart_from_the_capture_time(site):
    site.routes["/status/1593012345678901234"] = Route(
        b'<html><head><meta property="og:url" content="/status/1593012345678901234">'
        b'<meta property="article:published_time" content="2022-11-16T19:04:05+03:00">'
        b'<meta name="author" content="War Tracker"></head>'
        b"<body><article><p>Kazan</p></article></body></html>"
    )
    archiver, store = make(site)
    manifest = asyncio.run(
        archiver.capture(request_for(site.url("/status/1593012345678901234")))
    ).manifest
    post = manifest.post
    assert (post["id"], post["author"], post["published_at"]) == (
        "1593012345678901234",
        "War Tracker",
        "2022-11-16T16:04:05.000000Z",
    )
    assert post["source"] == "page" and manifest.fetched_at > "2026"  # capture time apart
    meta = json.loads(records(store.get_bytes(manifest.warc_key))[-1][2])
    assert meta["post"] == post and manifest.summary()["post"] == post
    assert asyncio.run(archiver.capture(request_for(site.url("/gone"), 2))).manifest.post is None


def test_the_pages_readable_text_is_in_the_manifest_and_the_warcs_metadata(site):
    from tests.support.site import POST_TEXT

    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/post/1")))).manifest
    assert manifest.page_text == f"Post 1\n{POST_TEXT}"  # the title, the post; no script
    meta = json.loads(records(store.get_bytes(manifest.warc_key))[-1][2])
    assert meta["page_text"] == manifest.page_text  # rebuilt from the WARC, it is the same
    gone = asyncio.run(archiver.capture(request_for(site.url("/gone"), 2))).manifest
    assert gone.page_text is None  # an error page: nothing is read from it


def test_the_tls_chain_of_the_captures_own_connection_is_in_the_warc(tmp_path):
    from archivers.net.resolver import StaticResolver
    from tests.support.site import TestSite
    from tests.support.tlscerts import make_pki

    pki = make_pki(tmp_path, names=("post.example.test",))
    with TestSite(tls=pki.server_context()) as site:
        fetcher = Fetcher(
            FetchSettings(allow=parse_allow_list(site.allow), ca_file=str(pki.ca_file)),
            resolver=StaticResolver({"post.example.test": ["127.0.0.1"]}),
        )
        archiver = PageArchiver(fetcher, MemoryStore(), agent=AGENT)
        url = f"https://post.example.test:{site.port}/redirect/1"
        manifest = asyncio.run(archiver.capture(request_for(url))).manifest
        # one TLS handshake per request the server answered: no extra connection
        # was opened to look at certificates
        assert site.handshakes == len(site.clients) == 2 + 4  # two hops, four requisites
        page_client = dict(site.clients)["/post/1"]
    data = archiver.store.get_bytes(manifest.warc_key)
    found = records(data)
    responses = {
        h.get_header("WARC-Record-ID"): h.get_header("WARC-Target-URI")
        for t, h, _ in found
        if t == "response"
    }
    tls = [
        (h, json.loads(body))
        for t, h, body in found
        if t == "metadata" and h.get_header("WARC-Target-URI").startswith("urn:warcflow:tls:")
    ]
    hops = [url, f"https://post.example.test:{site.port}/post/1"]
    assert [h.get_header("WARC-Target-URI") for h, _ in tls] == [
        f"urn:warcflow:tls:{u}" for u in hops
    ]
    expected = [hashlib.sha256(der).hexdigest() for der in (pki.leaf, pki.intermediate, pki.root)]
    for (headers, doc), hop in zip(tls, hops, strict=False):
        assert responses[headers.get_header("WARC-Concurrent-To")] == hop
        assert headers.get_header("Content-Type") == "application/json"
        assert [c["sha256"] for c in doc["certificates"]] == expected  # exactly the server's chain
        assert doc["chain_source"] == "verified" and doc["sni"] == "post.example.test"
        assert doc["version"].startswith("TLSv1.") and doc["cipher"]
        leaf = doc["certificates"][0]
        assert "CN=post.example.test" in leaf["subject"]
        assert "intermediate" in leaf["issuer"] and leaf["pem"].startswith("-----BEGIN CERT")
        assert leaf["not_before"] < leaf["not_after"]
    assert manifest.tls["chain_sha256"] == expected and manifest.tls["version"].startswith("TLS")
    # the page's connection, as the server saw it from the other end
    assert manifest.network == {
        "local_address": page_client,
        "remote_address": f"127.0.0.1:{site.port}",
    }


def test_plain_http_has_an_address_but_no_tls(site):
    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/post/1")))).manifest
    assert manifest.tls is None
    assert manifest.network["local_address"] == dict(site.clients)["/post/1"]
    assert not any(
        (h.get_header("WARC-Target-URI") or "").startswith("urn:warcflow:tls:")
        for t, h, _ in records(store.get_bytes(manifest.warc_key))
    )


def test_para_155_items_say_what_the_capture_holds(site):
    from archivers.manifests.manifest import Manifest
    from archivers.media.ytdlp import extractor_recognises

    site.routes["/post/video"] = Route(
        b'<html><head><meta property="og:video" content="/media/clip.mp4"></head>'
        b"<body><p>clip</p></body></html>"
    )
    site.routes["/data.json"] = Route(b'{"a": 1}', content_type="application/json")
    store = MemoryStore()
    archiver = PageArchiver(
        Fetcher(FetchSettings(allow=parse_allow_list(site.allow))),
        store,
        agent=AGENT,
        recognises=extractor_recognises,
    )

    def summary_items(path, offset):
        manifest = asyncio.run(archiver.capture(request_for(site.url(path), offset))).manifest
        meta = json.loads(records(store.get_bytes(manifest.warc_key))[-1][2])
        assert meta["items"] == manifest.items
        return manifest.summary()["items"]

    assert summary_items("/post/1", 1) == {
        "url": True,
        "html": True,
        "screenshot": False,
        "media": False,
    }
    assert summary_items("/post/video", 2) == {
        "url": True,
        "html": True,
        "screenshot": False,
        "media": True,
    }
    assert summary_items("/gone", 3)["html"] is False  # a 404 page is not the post's HTML
    assert summary_items("/data.json", 4)["html"] is False
    refused = request_for("http://127.0.0.1:1/private", 5)
    failed = asyncio.run(archiver.record_failure(refused, reason="policy_refused", message="no"))
    assert failed.manifest.summary()["items"] == {
        "url": True,
        "html": False,
        "screenshot": False,
        "media": False,
    }
    # manifests from before items existed, and a screenshot added by browser capture
    old = Manifest(
        capture_id="c",
        url="https://e.example/",
        surt="e",
        status="stored",
        submitted_at="2026-11-25T10:00:00.000000Z",
        warc_key="warc/x.warc.gz",
        media=[{"media_id": "m"}],
    )
    assert old.summary()["items"] == {"url": True, "html": True, "screenshot": False, "media": True}
    shot = Manifest.from_json(
        old.to_json().replace(b'"screenshot_key": null', b'"screenshot_key": "shots/c.png"')
    )
    assert shot.summary()["items"]["screenshot"] is True
