"""The fetcher against real loopback servers. Canary servers count hits that must stay 0."""

import asyncio

import pytest

from archivers.errors import FetchUnavailable, PolicyRefused
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.net.resolver import StaticResolver
from tests.support.site import Route, TestSite


def run(coro):
    return asyncio.run(coro)


def total_hits(server: TestSite) -> int:
    return sum(server.hits.values())


def test_loopback_is_refused_without_connecting(canary):
    with pytest.raises(PolicyRefused):
        run(Fetcher(FetchSettings()).fetch(canary.url("/post/1")))
    assert total_hits(canary) == 0


@pytest.mark.parametrize(
    "form", ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1", "[::ffff:127.0.0.1]"]
)
def test_odd_loopback_literals_are_refused_live(canary, form):
    with pytest.raises(PolicyRefused):
        run(Fetcher(FetchSettings()).fetch(f"http://{form}:{canary.port}/post/1"))
    assert total_hits(canary) == 0


def test_allowed_port_does_not_open_other_loopback_ports(site, canary):
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    assert run(fetcher.fetch(site.url("/post/1"))).status == 200
    with pytest.raises(PolicyRefused):
        run(fetcher.fetch(canary.url("/post/1")))
    assert total_hits(canary) == 0


def test_name_resolving_to_a_private_address_is_refused(canary):
    resolver = StaticResolver({"innocent.example": ["127.0.0.1"]})
    with pytest.raises(PolicyRefused) as caught:
        run(
            Fetcher(FetchSettings(), resolver=resolver).fetch(
                f"http://innocent.example:{canary.port}/"
            )
        )
    assert "innocent.example resolves to 127.0.0.1" in str(caught.value)
    assert total_hits(canary) == 0


def test_redirect_to_a_refused_address_is_refused(site, canary):
    site.routes["/out"] = Route(b"", status=302, headers=[("Location", canary.url("/post/1"))])
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    with pytest.raises(PolicyRefused):
        run(fetcher.fetch_chain(site.url("/out")))
    assert total_hits(canary) == 0
    assert site.count("/out") == 1


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "data:text/html,hi"]
)
def test_redirect_to_another_scheme_is_refused(site, target):
    site.routes["/scheme"] = Route(b"", status=301, headers=[("Location", target)])
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    with pytest.raises(PolicyRefused) as caught:
        run(fetcher.fetch_chain(site.url("/scheme")))
    assert caught.value.reason == "redirect_refused"


class FlippingResolver:
    """Answers an allowed address first and the canary afterwards (DNS rebinding)."""

    def __init__(self):
        self.calls = 0

    async def resolve(self, host, port):
        import ipaddress

        self.calls += 1
        return [ipaddress.ip_address("127.0.0.1" if self.calls == 1 else "127.0.0.2")]


def test_resolved_address_is_pinned_for_the_connection(site):
    # 127.0.0.1:port is allowed; 127.0.0.2 is not. The fetcher must resolve once
    # and connect to the address it checked.
    resolver = FlippingResolver()
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)), resolver=resolver)
    exchange = run(fetcher.fetch(f"http://rebind.example:{site.port}/post/1"))
    assert exchange.ip == "127.0.0.1"
    assert resolver.calls == 1


def test_response_over_the_size_limit_is_kept_truncated(site):
    site.routes["/big"] = Route(b"x" * 200_000, content_type="text/plain")
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow), max_response_bytes=50_000))
    exchange = run(fetcher.fetch(site.url("/big")))
    assert exchange.response.truncated == "length"
    assert exchange.response.raw.size == 50_000
    assert any("max_response_bytes" in hit for hit in exchange.limits_hit)


def test_redirect_loop_stops_at_the_limit(site):
    site.routes["/loop"] = Route(b"", status=302, headers=[("Location", "/loop")])
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow), max_redirects=3))
    chain = run(fetcher.fetch_chain(site.url("/loop")))
    assert len(chain) == 4
    assert chain[-1].limits_hit == ["max_redirects=3"]


def test_connection_refused_is_retryable():
    from infra.processes import free_port

    port = free_port()
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(f"127.0.0.1:{port}")))
    with pytest.raises(FetchUnavailable):
        run(fetcher.fetch(f"http://127.0.0.1:{port}/"))


def test_a_private_ca_is_trusted_only_when_configured(tmp_path):
    import hashlib

    from archivers.errors import HTTPRefused
    from tests.support.tlscerts import make_pki

    pki = make_pki(tmp_path)
    with TestSite(tls=pki.server_context()) as server:
        allow = parse_allow_list(server.allow)
        with pytest.raises(HTTPRefused) as caught:
            run(Fetcher(FetchSettings(allow=allow)).fetch(server.url("/post/1")))
        assert caught.value.reason == "tls_certificate"
        trusted = run(
            Fetcher(FetchSettings(allow=allow, ca_file=str(pki.ca_file))).fetch(
                server.url("/post/1")
            )
        )
        unverified = run(
            Fetcher(FetchSettings(allow=allow, verify_tls=False)).fetch(server.url("/post/1"))
        )
    assert trusted.status == 200 and trusted.tls.chain_source == "verified"
    assert trusted.tls.sni is None  # an IP literal has no server name to send
    # without verification the chain is the one the server sent: no root
    assert unverified.tls.chain_source == "unverified"
    assert unverified.tls.chain_sha256 == [
        hashlib.sha256(d).hexdigest() for d in (pki.leaf, pki.intermediate)
    ]
