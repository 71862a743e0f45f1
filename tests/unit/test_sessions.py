"""Logged-in sessions (issue 17): cookies.txt, the encrypted vault, the fetcher
sending a session's cookies and withholding them from what it records, and a
capture that meets a login wall marking its session and trying another."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from archivers.capture.archiver import PageArchiver
from archivers.errors import Retryable
from archivers.manifests import outcome
from archivers.net.addresses import parse_allow_list
from archivers.net.cookies import (
    WITHHELD,
    CookiesInvalid,
    SessionCookies,
    parse_cookies_txt,
)
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.sessions.pool import SessionPool
from archivers.sessions.vault import Vault, VaultError
from archivers.store.memory import MemoryStore
from tests.support.pages import AGENT, request_for
from tests.support.platform import LOGIN, Platform, cookies_txt
from tests.support.site import Route, TestSite

COOKIES = """# Netscape HTTP Cookie File
.x.com\tTRUE\t/\tTRUE\t2000000000\tauth_token\tsecret-auth
#HttpOnly_x.com\tFALSE\t/i/\tFALSE\t0\tct0\tsecret-ct0
x.com\tFALSE\t/\tFALSE\t1000\told\texpired-long-ago

.other.org\tTRUE\t/\tFALSE\t0\tsid\tnot-x
"""


def test_cookies_txt_is_read_and_matched_as_a_browser_would():
    cookies = parse_cookies_txt(COOKIES)
    assert [c.name for c in cookies] == ["auth_token", "ct0", "old", "sid"]
    assert cookies[1].http_only and not cookies[1].include_subdomains
    jar = SessionCookies("s-1", cookies)
    assert jar.header_for("https://x.com/i/flow") == "ct0=secret-ct0; auth_token=secret-auth"
    assert jar.header_for("https://api.x.com/status/1") == "auth_token=secret-auth"
    assert jar.header_for("http://x.com/status/1") is None  # secure: https only
    assert jar.header_for("https://x.com/inbox") == "auth_token=secret-auth"  # /i/ ≠ /inbox
    assert jar.header_for("https://notx.com/") is None
    with pytest.raises(CookiesInvalid, match="line 2"):
        parse_cookies_txt("# Netscape HTTP Cookie File\nx.com\tTRUE\t/\tauth\n")
    with pytest.raises(CookiesInvalid, match="no cookie"):
        parse_cookies_txt("# only a comment\n")


def test_a_recorded_exchange_shows_the_session_never_its_cookies():
    jar = SessionCookies("s-1", parse_cookies_txt(COOKIES))
    request = b"GET / HTTP/1.1\r\nHost: x.com\r\nCookie: auth_token=secret-auth\r\n\r\n"
    withheld = jar.withheld_request(request)
    assert b"secret" not in withheld
    assert withheld.endswith(b"Cookie: " + f"{WITHHELD} (session s-1)".encode() + b"\r\n\r\n")
    head = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: ct0=fresh-secret; Path=/\r\n"
        b"set-cookie: a=b;\r\n  folded-secret\r\nContent-Length: 2\r\n\r\n"
    )
    out = jar.withheld_response_fields(head)
    assert b"secret" not in out and out.count(WITHHELD.encode()) == 2
    assert out.endswith(b"Content-Length: 2\r\n\r\n")


def test_the_vault_is_encrypted_and_only_its_key_opens_it(tmp_path):
    vault = Vault(tmp_path / "vault", tmp_path / "keys" / "vault.key")
    session = vault.add("https://www.X.com/home", "@research", parse_cookies_txt(COOKIES))
    assert session.site == "x.com" and [c.name for c in session.cookies] == [
        "auth_token",
        "ct0",
        "old",
    ]  # other.org's cookie is not kept
    raw = (tmp_path / "vault").read_bytes()
    assert b"secret" not in raw and b"auth_token" not in raw and b"@research" not in raw
    for path in (tmp_path / "vault", tmp_path / "keys" / "vault.key"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    listing = vault.listing()
    assert listing[0]["state"] == "active" and listing[0]["cookies"] == 3
    assert "secret" not in repr(listing) and "secret" not in vault.state_path.read_text()
    (tmp_path / "keys" / "vault.key").write_text(os.urandom(32).hex())
    with pytest.raises(VaultError, match="does not open with the key"):
        vault.sessions()
    with pytest.raises(VaultError, match=r"none of the 1 cookies is for x\.com"):
        vault.add("x.com", "@a", parse_cookies_txt(".other.org\tTRUE\t/\tFALSE\t0\ta\tb\n"))


def test_captures_rotate_over_a_sites_active_sessions(tmp_path):
    vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
    a = vault.add("x.com", "@a", parse_cookies_txt(COOKIES))
    b = vault.add("x.com", "@b", parse_cookies_txt(COOKIES))
    pool = SessionPool(vault)
    picks = [pool.choose("https://x.com/s/1").session_id for _ in range(4)]
    assert picks == [a.session_id, b.session_id, a.session_id, b.session_id]
    assert pool.choose("https://api.x.com/s/1", prefer=b.session_id) == b  # a page's media
    assert pool.choose("https://other.org/") is None
    pool.expire(a, "expired", "login page")
    assert {pool.choose("https://x.com/s/1", prefer=a.session_id) for _ in range(3)} == {b}
    pool.expire(b, "challenged", "challenge page")
    assert pool.choose("https://x.com/s/1") is None
    states = [
        line.split(" is ")[1].split(" since")[0] for line in pool.unavailable("https://x.com/")
    ]
    assert states == ["expired", "challenged"]
    listing = {s["id"]: s for s in vault.listing()}
    assert listing[a.session_id]["uses"] == 2 and listing[b.session_id]["uses"] == 6
    vault.remove(a.session_id)
    assert [s["id"] for s in vault.listing()] == [b.session_id]


@pytest.fixture
def platform():
    with TestSite() as site:
        yield Platform(site, clip=b"\x00\x00\x00\x18ftypmp42" + b"\0" * 200)


def _archiver(platform, tmp_path, *tokens):
    vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
    sessions = [
        vault.add(
            platform.site.host, f"@account{n}", parse_cookies_txt(cookies_txt(platform.site, t))
        )
        for n, t in enumerate(tokens)
    ]
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(platform.site.allow)))
    store = MemoryStore()
    return PageArchiver(fetcher, store, agent=AGENT, sessions=SessionPool(vault)), store, sessions


def test_a_logged_in_capture_holds_the_post_and_names_its_session_not_its_secrets(
    platform, tmp_path
):
    token = platform.token()
    archiver, store, (session,) = _archiver(platform, tmp_path, token)
    manifest = asyncio.run(archiver.capture(request_for(platform.url(1)))).manifest
    assert manifest.status == "stored" and manifest.outcome == "ok"
    assert manifest.final_url == platform.url(1)
    assert manifest.session == {
        "id": session.session_id,
        "site": "127.0.0.1",
        "handle": "@account0",
    }
    # the post and its image were fetched with the session's cookie
    assert {path for path, _ in platform.site.cookies_seen} >= {"/status/1", "/walled/photo1.png"}
    warc = store.get_bytes(manifest.warc_key)
    import gzip

    text = gzip.decompress(warc)
    assert b"Only followers see post 1" in text
    assert token.encode() not in text
    assert not any(fresh.encode() in text for fresh in platform.fresh)
    assert f"{WITHHELD} (session {session.session_id})".encode() in text
    everything = b"".join(store.get_bytes(k) for k in store.list_keys(""))
    assert token.encode() not in everything


def test_a_session_that_expired_is_marked_and_the_next_attempt_uses_another(platform, tmp_path):
    spent = platform.token(uses=0)
    good = platform.token()
    archiver, _store, sessions = _archiver(platform, tmp_path, spent, good)
    pool = archiver.sessions
    request = request_for(platform.url(2))  # the spent session was added first: it goes first
    with pytest.raises(Retryable, match="is expired: the page redirected to a login page") as err:
        asyncio.run(archiver.capture(request))
    assert err.value.reason == "session_expired"
    assert pool.vault.state_of(sessions[0].session_id) == "expired"
    manifest = asyncio.run(archiver.capture(request)).manifest  # the retry
    assert manifest.outcome == "ok" and manifest.session["id"] == sessions[1].session_id


def test_with_no_active_session_the_outcome_is_a_login_wall_naming_the_session(platform, tmp_path):
    archiver, _store, (session,) = _archiver(platform, tmp_path, platform.token(challenged=True))
    with pytest.raises(Retryable, match="challenged: a challenge page"):
        asyncio.run(archiver.capture(request_for(platform.url(3))))
    manifest = asyncio.run(archiver.capture(request_for(platform.url(3)))).manifest
    assert manifest.outcome == "login_wall" and manifest.final_url.endswith(LOGIN)
    assert manifest.session["id"] is None
    assert session.session_id in manifest.session["unavailable"][0]
    assert "challenged" in manifest.session["unavailable"][0]


def test_the_report_says_who_the_platform_saw():
    from archivers.export.report import session_text

    named = {"id": "s-1f2e3d4c", "site": "x.com", "handle": "@research_account"}
    assert session_text(named) == (
        "the logged-in account @research_account on x.com (session s-1f2e3d4c)"
    )
    none_active = {"id": None, "site": "x.com", "handle": None, "unavailable": ["…"]}
    assert session_text(none_active) == "an anonymous visitor: no active session for x.com"


def test_a_media_request_carries_its_pages_session_id_and_nothing_else():
    import json as _json

    from archivers.clock import utc_now
    from archivers.media.archiver import MediaRequest
    from archivers.store import layout
    from streams.messages.base import Undecodable
    from streams.messages.capture import media_from_payload, media_request_doc

    page = layout.capture_id("warcflow.ingest", 0, 1, 1_700_000_000_000)
    url = "https://x.com/v.mp4"
    request = MediaRequest(
        layout.media_id(page, url), page, "https://x.com/s/1", url, "direct", "og:video",
        utc_now(), session_id="s-1f2e3d4c",
    )  # fmt: skip
    doc = _json.loads(_json.dumps(media_request_doc(request)))
    assert media_from_payload(doc, provenance={}).session_id == "s-1f2e3d4c"
    doc["session_id"] = "auth_token=secret"  # a message cannot smuggle anything else in
    with pytest.raises(Undecodable):
        media_from_payload(doc, provenance={})


def test_every_header_block_and_line_ending_is_withheld():
    from archivers.net.cookies import final_head_end

    jar = SessionCookies("s-1", parse_cookies_txt(COOKIES))
    raw = (
        b"HTTP/1.1 103 Early Hints\r\nSet-Cookie: early=SECRET1\r\n\r\n"
        b"HTTP/1.1 200 OK\nSet-Cookie: bare=SECRET2\nX: y\r\nset-cookie: crlf=SECRET3\r\n"
        b"Cookie: echoed=SECRET4\r\n\r\n"
        b"the body"
    )
    first = raw.index(b"\r\n\r\n") + 4
    end = final_head_end(raw, first)
    assert raw[end:] == b"the body"
    withheld = jar.withheld_response_fields(raw[:end])
    assert b"SECRET" not in withheld and withheld.count(WITHHELD.encode()) == 4
    assert b"\nX: y\r\n" in withheld  # each line keeps its own ending


def test_same_named_cookies_of_two_paths_are_both_sent():
    jar = SessionCookies(
        "s-1",
        parse_cookies_txt(
            "x.com\tFALSE\t/\tFALSE\t0\tsid\tROOT\nx.com\tFALSE\t/app\tFALSE\t0\tsid\tAPP\n"
        ),
    )
    from archivers.net.fetcher import _with_session_cookie

    sent = _with_session_cookie(
        [("Cookie", "sid=CHROMIUMS; theme=dark; ct0=withheld-by-warcflow (session s-1)")],
        jar.header_for("https://x.com/app/1"),
    )
    assert sent == [("Cookie", "sid=APP; sid=ROOT; theme=dark")]


def test_a_cookie_a_header_cannot_carry_is_refused_when_added():
    with pytest.raises(CookiesInvalid, match="line 1"):
        parse_cookies_txt("x.com\tFALSE\t/\tFALSE\t0\tauth\tsecret-with-space \n")
    with pytest.raises(CookiesInvalid, match="line 1"):
        parse_cookies_txt("x.com\tFALSE\t/\tFALSE\t0\tauth\tsécret\n")


def test_an_error_under_a_session_does_not_quote_what_the_server_sent(tmp_path):
    """h11 quotes a header line it cannot parse; that text went into requisite
    failures, attempts and logs."""
    import socket
    import threading

    from archivers.errors import CaptureError

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=SECRET\x00VALUE\r\n\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(f"127.0.0.1:{port}")))
    jar = SessionCookies("s-1", parse_cookies_txt("127.0.0.1\tFALSE\t/\tFALSE\t0\ta\tb\n"))
    with pytest.raises(CaptureError) as err:
        asyncio.run(fetcher.fetch(f"http://127.0.0.1:{port}/", session=jar))
    server.close()
    assert "SECRET" not in str(err.value) and "details withheld: session s-1" in str(err.value)


def test_only_an_interstitial_is_a_challenge_and_a_plain_403_is_the_pages():
    from archivers.manifests.outcome import wall_of

    post = b"<html><body>" + b"<p>a long post</p>" * 2000 + b'<div class="g-recaptcha">'
    assert wall_of(200, "https://x.com/s/1", post) is None  # a comment form's captcha
    assert wall_of(200, "https://x.com/s/1", b"<title>Just a moment...</title>cf-chl-")[0] == (
        "challenged"
    )
    assert wall_of(403, "https://x.com/s/1", post)[0] == "challenged"
    assert wall_of(403, "https://x.com/s/1", b"Forbidden") is None
    assert wall_of(401, "https://x.com/s/1", b"")[0] == "expired"


def test_a_second_session_at_the_same_wall_finds_the_page_not_the_session(platform, tmp_path):
    """A post nobody may see must not expire every session of the site, one per retry."""
    archiver, _store, sessions = _archiver(platform, tmp_path, platform.token(), platform.token())
    pool = archiver.sessions
    url = platform.url(9)
    assert not pool.walled_before(url, sessions[0])
    assert pool.walled_before(url, sessions[1])
    assert not pool.walled_before(platform.url(10), sessions[1])


def test_a_page_far_smaller_than_the_sites_usual_post_is_a_wall_not_the_post(platform, tmp_path):
    """The generic signal: a logged-out shell served at the post's URL, with no
    redirect, no 401 and no challenge marker, is an eighth of the usual post."""
    archiver, _store, (first, second) = _archiver(
        platform, tmp_path, platform.token(), platform.token()
    )
    vault = archiver.sessions.vault
    assert outcome.smaller_than_usual(100, [9000] * 4) is None  # too few pages seen yet
    site = platform.site
    site.gate = None  # a platform whose post pages are mostly its own markup
    markup = "<div class=app-shell>" + "<span>timeline</span>" * 1000 + "</div>"
    for n in range(1, 6):
        site.routes[f"/p/{n}"] = Route(f"<!doctype html><p>post {n}</p>{markup}".encode())
        manifest = asyncio.run(archiver.capture(request_for(site.url(f"/p/{n}")))).manifest
        assert manifest.outcome == "ok"
    usual = vault.usual_sizes(site.host)
    assert len(usual) == 5 and min(usual) > 20_000
    # the same post sent gzip-compressed (a few hundred bytes on the wire) is measured
    # as it decodes: not small
    site.routes["/p/7"] = Route(f"<!doctype html><p>post 7</p>{markup}".encode(), gzip=True)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/p/7")))).manifest
    assert manifest.outcome == "ok"
    usual = vault.usual_sizes(site.host)[:5]
    # now it serves a logged-out shell at the post's URL: 200, no redirect, no marker
    site.routes["/p/9"] = Route(b"<!doctype html><title>X</title><div id=app></div>")
    with pytest.raises(Retryable, match="under an eighth of this site's usual post") as err:
        asyncio.run(archiver.capture(request_for(site.url("/p/9"))))
    assert err.value.reason == "session_expired"
    marked = [s for s in (first, second) if vault.state_of(s.session_id) == "expired"]
    assert len(marked) == 1
    assert len(vault.usual_sizes(site.host)) == 6  # the shell is not "usual"
    # a second session at the same small page: the page is what it is, stored as is
    manifest = asyncio.run(archiver.capture(request_for(site.url("/p/9")))).manifest
    assert manifest.status == "stored"
    [other] = [s for s in (first, second) if s not in marked]
    assert vault.state_of(other.session_id) == "active"


# a body that holds, as text, what a trailer section looks like: it is the
# evidence and must stay as it is
LOOKALIKE = b"<pre>\r\n0\r\nSet-Cookie: quoted=IN-THE-BODY\r\n\r\n</pre>"
TRAILERS = {
    "crlf": b"Set-Cookie: ct0=SECRET; Path=/\r\nX-Checksum: abc\r\nCookie: auth=SECRET\r\n\r\n",
    "bare-lf": (
        b"X-Checksum: abc\nset-cookie: ct0=SECRET\n  folded-SECRET\nSet-Cookie2: b=SECRET\n\n"
    ),
}


@pytest.mark.parametrize(
    ("endings", "size"),
    [("crlf", 1), ("bare-lf", 1), ("crlf", 1_500_000), ("bare-lf", 1_500_000)],
)
def test_a_set_cookie_in_a_chunked_trailer_is_withheld_from_the_warc(tmp_path, endings, size):
    """The trailer section is the end of the raw bytes a WARC response record
    holds: its cookie fields read the placeholder there, the record's digests
    hold, and the body (chunks of 100 bytes) is the one the server sent."""
    import gzip
    import hashlib
    import io

    from warcio.archiveiterator import ArchiveIterator

    body = b"<html><body>" + LOOKALIKE + b"x" * size + b"</body></html>"
    with TestSite() as site:
        site.routes["/trailed"] = Route(body, chunked=True, trailers=TRAILERS[endings])
        vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
        session = vault.add(
            site.host, "@a", parse_cookies_txt(f"{site.host}\tFALSE\t/\tFALSE\t0\tauth\tTOKEN\n")
        )
        fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
        store = MemoryStore()
        archiver = PageArchiver(fetcher, store, agent=AGENT, sessions=SessionPool(vault))
        url = site.url("/trailed")
        manifest = asyncio.run(archiver.capture(request_for(url))).manifest
    assert manifest.status == "stored" and manifest.session["id"] == session.session_id
    warc = store.get_bytes(manifest.warc_key)
    assert b"SECRET" not in gzip.decompress(warc)
    for checked in ArchiveIterator(io.BytesIO(warc), check_digests="raise"):
        checked.content_stream().read()  # warcio checks both digests as it reads
    (record, block), *_ = (
        (r, r.raw_stream.read())
        for r in ArchiveIterator(io.BytesIO(warc), no_record_parse=True)
        if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") == url
    )
    head_size = block.index(b"\r\n\r\n") + 4
    payload = block[head_size:]
    placeholder = f"{WITHHELD} (session {session.session_id})".encode()
    trailer = payload[payload.rindex(b"\r\n0\r\n") + 5 :]
    end = "\r\n" if endings == "crlf" else "\n"
    withheld = {
        "crlf": f"Set-Cookie: P{end}X-Checksum: abc{end}Cookie: P{end}{end}",
        "bare-lf": f"X-Checksum: abc{end}set-cookie: P{end}Set-Cookie2: P{end}{end}",
    }[endings]
    assert trailer == withheld.encode().replace(b"P", placeholder)
    digest = record.rec_headers.get_header("WARC-Payload-Digest")
    assert digest == "sha256:" + hashlib.sha256(payload).hexdigest()
    assert hashlib.sha256(block).hexdigest() == record.rec_headers.get_header(
        "WARC-Block-Digest"
    ).removeprefix("sha256:")
    assert int(record.rec_headers.get_header("Content-Length")) == len(block)
    dechunked, rest = bytearray(), payload
    while (size_line := rest[: rest.index(b"\r\n")]) != b"0":
        n = int(size_line, 16)
        dechunked += rest[len(size_line) + 2 : len(size_line) + 2 + n]
        rest = rest[len(size_line) + 4 + n :]
    assert bytes(dechunked) == body  # the lookalike in the body kept, every byte


def test_without_a_session_a_trailer_is_kept_as_sent(site):
    from tests.support.pages import make

    site.routes["/trailed"] = Route(b"<p>post</p>", chunked=True, trailers=TRAILERS["crlf"])
    archiver, store = make(site)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/trailed")))).manifest
    import gzip

    assert TRAILERS["crlf"] in gzip.decompress(store.get_bytes(manifest.warc_key))


def test_the_trailer_section_is_found_from_the_end_of_the_message():
    from archivers.net.cookies import trailer_start

    # a field named "0" is a trailer line, not the last chunk; a chunk extension may hold ":"
    raw = b'5\r\n0\r\n\r\n\r\n0;a="b:c" \r\n0: x\r\nSet-Cookie: a=b\n\n'
    start = trailer_start(raw, from_line_start=True)
    assert raw[start:] == b"0: x\r\nSet-Cookie: a=b\n\n"
    assert trailer_start(b"0\r\n\r\n", from_line_start=True) == 3  # no fields
    # a tail that does not reach back to the last chunk's line finds nothing
    assert trailer_start(b"0\r\nX: y\r\n\r\n"[1:], from_line_start=False) is None


def test_session_test_finds_the_small_page_a_capture_would(platform, tmp_path, capsys, monkeypatch):
    """`session test` applies the captures' rule (page_wall), not a copy of part of it."""
    from warcflow.cli import main

    archiver, _store, (session,) = _archiver(platform, tmp_path, platform.token())
    vault = archiver.sessions.vault
    site = platform.site
    site.gate = None
    for _ in range(5):
        vault.note_size(site.host, 30_000)
    site.routes["/shell"] = Route(b"<!doctype html><title>X</title><div id=app></div>")
    for name, value in {
        "WARCFLOW_HOME": str(tmp_path / "home"),
        "WARCFLOW_SESSION_VAULT": str(vault.path),
        "WARCFLOW_SESSION_KEY": str(vault.key_path),
        "WARCFLOW_FETCH_ALLOW": site.allow,
    }.items():
        monkeypatch.setenv(name, value)
    code = main(["session", "test", session.session_id, site.url("/shell"), "--json"])
    assert code == 1, capsys.readouterr()
    assert vault.state_of(session.session_id) == "expired"
    assert "under an eighth" in capsys.readouterr().out
