"""A session's HTTP proxy (issue 17): the fetcher's CONNECT client against a tiny
local proxy (tests/support/proxy.py) that counts tunnels and checks credentials.

What is asserted is what a user sees: the page arrives through the proxy, the
proxy was asked for the address warcflow checked (never a name), the WARC's
exchange is the one with the origin, a refusal says which proxy and what it
answered, and the proxy's password is in no record, error or listing."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archivers.capture.static import capture_page
from archivers.errors import PolicyRefused, ProxyRefused, ProxyUnavailable, Retryable
from archivers.net.addresses import parse_allow_list
from archivers.net.cookies import SessionCookies, parse_cookies_txt
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.net.proxy import Proxy, ProxyInvalid
from archivers.net.resolver import StaticResolver
from archivers.sessions.vault import MAGIC, Vault
from infra.processes import free_port
from tests.support.proxy import ConnectProxy
from tests.support.site import TestSite

PASSWORD = "pr0xy-s3cret"


def run(coro):
    return asyncio.run(coro)


def through(proxy: ConnectProxy, password: str = PASSWORD) -> SessionCookies:
    return SessionCookies("s-proxy", (), Proxy.parse(proxy.url("agent", password)))


def test_a_proxy_url_is_http_and_its_password_is_never_shown():
    proxy = Proxy.parse("http://agent:p%40ss%3Aword@Proxy.Example:3128")
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "proxy.example",
        3128,
        "agent",
        "p@ss:word",
    )
    assert proxy.address == "proxy.example:3128"
    assert proxy.shown == "http://agent:***@proxy.example:3128"
    assert "p@ss" not in repr(proxy) and "p@ss" not in repr(SessionCookies("s", (), proxy))
    assert Proxy.parse("http://10.0.0.5").address == "10.0.0.5:8080"
    assert Proxy.parse("http://[::1]:3128").address == "[::1]:3128"
    assert Proxy.parse("http://10.0.0.5:3128").shown == "http://10.0.0.5:3128"
    for bad, said in [
        ("https://agent:hunter2@proxy.example:443", "must start with http://"),
        ("socks5://agent:hunter2@proxy.example:1080", "must start with http://"),
        ("agent:hunter2@proxy.example:3128", "must start with http://"),
        ("http://agent:hunter2@proxy.example:3128/path", "no path"),
        ("http://agent:hunter2@:3128", "names no host"),
        ("http://agent:hunter2@proxy.example:99999", "port"),
    ]:
        with pytest.raises(ProxyInvalid, match=said) as caught:
            Proxy.parse(bad)
        assert "hunter2" not in str(caught.value)


def test_a_page_and_its_requisites_go_through_the_proxy_to_the_checked_address():
    with TestSite() as site, ConnectProxy(user="agent", password=PASSWORD) as proxy:
        fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
        page = run(capture_page(fetcher, site.url("/post/1"), through(proxy)))
        try:
            fetched = {e.url for e in page.exchanges}
            assert {site.url("/post/1"), site.url("/static/photo.png")} <= fetched
            # one tunnel per exchange, each to the checked address, with the credentials
            assert proxy.targets() == [f"127.0.0.1:{site.port}"] * len(page.exchanges)
            # and every byte of every response came through them
            assert sorted(proxy.carried()) == sorted(e.response.raw.size for e in page.exchanges)
            expected = "Basic " + base64.b64encode(f"agent:{PASSWORD}".encode()).decode()
            assert set(proxy.authorizations) == {expected}
            for exchange in page.exchanges:
                # the exchange is the one with the origin: no CONNECT, no proxy header
                assert exchange.request_bytes.startswith(b"GET /")
                assert b"CONNECT" not in exchange.request_bytes
                assert b"Proxy-Authorization" not in exchange.request_bytes
                assert exchange.ip == "127.0.0.1" and exchange.port == site.port
                assert exchange.proxy == proxy.address
        finally:
            page.close()
        # without the session, no proxy: the same fetcher connects directly
        direct = run(fetcher.fetch(site.url("/post/1")))
        assert direct.status == 200 and direct.proxy is None
        assert len(proxy.targets()) == len(page.exchanges)


def test_https_through_the_tunnel_sends_the_hosts_name_and_verifies_its_certificate(tmp_path):
    from tests.support.tlscerts import make_pki

    pki = make_pki(tmp_path, ("walled.example",))
    with TestSite(tls=pki.server_context()) as site, ConnectProxy() as proxy:
        fetcher = Fetcher(
            FetchSettings(allow=parse_allow_list(site.allow), ca_file=str(pki.ca_file)),
            resolver=StaticResolver({"walled.example": ["127.0.0.1"]}),
        )
        session = SessionCookies("s-tls", (), Proxy.parse(proxy.url()))
        exchange = run(fetcher.fetch(f"https://walled.example:{site.port}/post/1", session=session))
        assert exchange.status == 200 and b"Kazan" in exchange.response.read_body(10_000)
        assert exchange.tls.sni == "walled.example" and exchange.tls.chain_source == "verified"
        # the proxy was asked for the address warcflow resolved and checked, not the name
        assert proxy.targets() == [f"127.0.0.1:{site.port}"]
        assert proxy.carried()[0] > exchange.response.raw.size  # TLS records, encrypted
        assert proxy.authorizations == [None]  # a proxy URL without credentials sends none
        assert site.handshakes == 1


def test_the_address_policy_still_decides_what_a_proxied_session_may_reach(canary):
    with ConnectProxy() as proxy:
        session = SessionCookies("s-p", (), Proxy.parse(proxy.url()))
        fetcher = Fetcher(
            FetchSettings(), resolver=StaticResolver({"innocent.example": ["127.0.0.1"]})
        )
        for url in (canary.url("/post/1"), f"http://innocent.example:{canary.port}/post/1"):
            with pytest.raises(PolicyRefused):
                run(fetcher.fetch(url, session=session))
        assert proxy.targets() == []  # refused before the proxy is asked
    assert sum(canary.hits.values()) == 0


def test_a_proxy_that_refuses_the_credentials_is_named_never_its_password(site):
    with ConnectProxy(user="agent", password=PASSWORD) as proxy:
        fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
        with pytest.raises(ProxyRefused) as caught:
            run(fetcher.fetch(site.url("/post/1"), session=through(proxy, "wrong-guess")))
        assert caught.value.reason == "proxy_auth_refused"
        said = str(caught.value)
        assert f"the proxy {proxy.address} answered 407" in said
        assert "refused the credentials" in said
        assert "wrong-guess" not in said and "agent" not in said
        assert proxy.refused == 1  # a refusal is not tried again
    assert site.count("/post/1") == 0


@pytest.mark.parametrize(
    ("mode", "kind", "reason"),
    [
        ("close", ProxyUnavailable, "proxy_closed"),
        ("502", ProxyUnavailable, "proxy_http_502"),
        ("silent", ProxyUnavailable, "proxy_timeout"),
        ("eager", ProxyRefused, "proxy_protocol_error"),
        ("huge", ProxyRefused, "proxy_protocol_error"),
    ],
)
def test_a_misbehaving_proxy_is_an_error_naming_it(site, mode, kind, reason):
    with ConnectProxy(mode=mode) as proxy:
        settings = FetchSettings(
            allow=parse_allow_list(site.allow), connect_timeout=0.5, max_header_bytes=4096
        )
        session = SessionCookies("s-p", (), Proxy.parse(proxy.url()))
        with pytest.raises(kind) as caught:
            run(Fetcher(settings).fetch(site.url("/post/1"), session=session))
        assert caught.value.reason == reason
        assert isinstance(caught.value, Retryable) == (kind is ProxyUnavailable)
        assert proxy.address in str(caught.value)
        assert proxy.targets() == [f"127.0.0.1:{site.port}"]
    assert site.count("/post/1") == 0


def test_a_proxy_nobody_listens_on_is_retryable_and_named(site):
    port = free_port()
    session = SessionCookies("s-p", (), Proxy.parse(f"http://agent:{PASSWORD}@127.0.0.1:{port}"))
    with pytest.raises(ProxyUnavailable) as caught:
        run(
            Fetcher(FetchSettings(allow=parse_allow_list(site.allow))).fetch(
                site.url("/post/1"), session=session
            )
        )
    assert caught.value.reason == "proxy_unreachable"
    assert f"127.0.0.1:{port}" in str(caught.value) and PASSWORD not in str(caught.value)


COOKIES = "x.com\tFALSE\t/\tFALSE\t0\tauth_token\tsecret-auth\n"


def test_the_vault_keeps_a_sessions_proxy_secret_and_reads_vaults_from_before(tmp_path):
    vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
    proxy = Proxy.parse(f"http://agent:{PASSWORD}@10.0.0.5:3128")
    added = vault.add("x.com", "@research", parse_cookies_txt(COOKIES), proxy=proxy)
    (again,) = Vault(tmp_path / "vault", tmp_path / "vault.key").sessions()
    assert again.proxy == proxy and again.jar().proxy == proxy
    assert again.public() == {
        "id": added.session_id,
        "site": "x.com",
        "handle": "@research",
        "proxy": "10.0.0.5:3128",
    }
    (listed,) = vault.listing()
    assert listed["proxy"] == "10.0.0.5:3128"
    assert listed["proxy_url"] == "http://agent:***@10.0.0.5:3128"
    assert PASSWORD not in json.dumps(listed) and PASSWORD not in repr(again)
    assert PASSWORD.encode() not in (tmp_path / "vault").read_bytes()
    assert PASSWORD not in vault.state_path.read_text()

    # a vault written before sessions had proxies: its sessions have none
    old = tmp_path / "old"
    doc = {
        "sessions": [
            {
                "session_id": "s-0ld0ld00",
                "site": "x.com",
                "handle": "@before",
                "added_at": "2024-05-01T00:00:00Z",
                "cookies": [
                    {
                        "domain": "x.com",
                        "include_subdomains": False,
                        "path": "/",
                        "secure": False,
                        "expires": 0,
                        "name": "auth_token",
                        "value": "v",
                        "http_only": False,
                    }
                ],
            }
        ]
    }
    key = bytes.fromhex((tmp_path / "vault.key").read_text().strip())
    nonce = os.urandom(12)
    old.write_bytes(MAGIC + nonce + AESGCM(key).encrypt(nonce, json.dumps(doc).encode(), MAGIC))
    (before,) = Vault(old, tmp_path / "vault.key").sessions()
    assert before.proxy is None and before.jar().proxy is None
    assert before.public() == {"id": "s-0ld0ld00", "site": "x.com", "handle": "@before"}


def test_the_report_says_the_platform_saw_the_proxy():
    from archivers.export.report import session_text

    named = {"id": "s-1", "site": "x.com", "handle": "@research", "proxy": "10.0.0.5:3128"}
    assert session_text(named) == (
        "the logged-in account @research on x.com (session s-1, through the proxy 10.0.0.5:3128)"
    )


def test_session_add_takes_an_http_proxy_and_list_never_shows_its_password(
    tmp_path, monkeypatch, capsys
):
    from warcflow.cli import main

    for name in [n for n in os.environ if n.startswith("WARCFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WARCFLOW_HOME", str(tmp_path))
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(COOKIES)
    add = ["session", "add", "x.com", "--cookies", str(cookies), "--handle", "@a"]
    assert main([*add, "--proxy", f"socks5://agent:{PASSWORD}@10.0.0.5:1080"]) == 2
    said = capsys.readouterr()
    assert "must start with http://" in said.err and PASSWORD not in said.err + said.out
    proxy_file = tmp_path / "proxy.txt"
    proxy_file.write_text(f"http://agent:{PASSWORD}@10.0.0.5:3128\n")
    assert main([*add, "--proxy", f"@{proxy_file}", "--json"]) == 0
    added = capsys.readouterr()
    shown = json.loads(added.out)
    assert shown["proxy"] == "10.0.0.5:3128"
    assert shown["proxy_url"] == "http://agent:***@10.0.0.5:3128"
    assert main(["session", "list"]) == 0
    listed = capsys.readouterr()
    assert "http://agent:***@10.0.0.5:3128" in listed.out
    assert main(["session", "list", "--json"]) == 0
    as_json = capsys.readouterr()
    for done in (added, listed, as_json):
        assert PASSWORD not in done.out + done.err


def _proxied_archiver(platform, tmp_path, proxy_url):
    from archivers.capture.archiver import PageArchiver
    from archivers.sessions.pool import SessionPool
    from archivers.store.memory import MemoryStore
    from tests.support.pages import AGENT
    from tests.support.platform import cookies_txt

    vault = Vault(tmp_path / "vault", tmp_path / "vault.key")
    token = platform.token()
    session = vault.add(
        platform.site.host,
        "@research",
        parse_cookies_txt(cookies_txt(platform.site, token)),
        proxy=Proxy.parse(proxy_url),
    )
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(platform.site.allow)))
    store = MemoryStore()
    archiver = PageArchiver(fetcher, store, agent=AGENT, sessions=SessionPool(vault))
    return archiver, store, session


@pytest.fixture
def platform():
    from tests.support.platform import Platform

    with TestSite() as site:
        yield Platform(site, clip=b"\x00\x00\x00\x18ftypmp42" + b"\0" * 200)


def test_a_proxied_capture_records_the_proxy_where_custody_is_read(platform, tmp_path):
    from archivers.export import courtpack
    from tests.support.pages import request_for

    with ConnectProxy(user="agent", password=PASSWORD) as proxy:
        archiver, store, session = _proxied_archiver(platform, tmp_path, proxy.url())
        manifest = asyncio.run(archiver.capture(request_for(platform.url(1)))).manifest
        tunnels, carried = proxy.targets(), proxy.carried()
    assert manifest.outcome == "ok"
    assert manifest.session == {**session.public(), "proxy": proxy.address}
    assert manifest.network["proxy"] == proxy.address
    assert manifest.network["remote_address"] == f"127.0.0.1:{platform.site.port}"
    assert len(tunnels) == sum(platform.site.hits.values()) >= 3  # page, css, image
    assert all(carried) and len(carried) == len(tunnels)
    method = courtpack._method(manifest, json.loads(manifest.to_json()), {}, "test")
    assert f"through the session's proxy {proxy.address}" in method
    everything = b"".join(store.get_bytes(k) for k in store.list_keys(""))
    assert PASSWORD.encode() not in everything


def test_a_proxy_refusing_the_credentials_fails_the_capture_and_leaves_the_session(
    platform, tmp_path
):
    from tests.support.pages import request_for

    with ConnectProxy(user="agent", password=PASSWORD) as proxy:
        archiver, _store, session = _proxied_archiver(
            platform, tmp_path, proxy.url(password="not-the-password")
        )
        with pytest.raises(ProxyRefused) as caught:
            asyncio.run(archiver.capture(request_for(platform.url(1))))
    assert caught.value.reason == "proxy_auth_refused"
    assert "not-the-password" not in str(caught.value)
    assert archiver.sessions.vault.state_of(session.session_id) == "active"
    assert sum(platform.site.hits.values()) == 0  # never sent around the proxy


def test_every_request_yt_dlp_makes_goes_through_the_proxy(tmp_path):
    from archivers.media import ytdlp
    from tests.support.site import Route

    clip = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 5000
    with TestSite() as site, ConnectProxy(user="agent", password=PASSWORD) as proxy:
        site.routes["/v/clip.mp4"] = Route(clip, content_type="video/mp4")
        fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
        got = ytdlp.download(
            fetcher,
            site.url("/v/clip.mp4"),
            tmp_path,
            max_bytes=10**7,
            max_duration=600,
            session=through(proxy),
        )
        assert got.path.read_bytes() == clip
        # yt-dlp's probe and its download: each a tunnel, each carrying its answer
        assert proxy.targets() == [f"127.0.0.1:{site.port}"] * len(got.exchanges)
        assert sorted(proxy.carried()) == sorted(e.response.raw.size for e in got.exchanges)
        assert site.count("/v/clip.mp4") == len(got.exchanges) >= 1
        assert all(e.proxy == proxy.address for e in got.exchanges)
