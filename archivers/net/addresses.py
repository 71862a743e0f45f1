"""The address policy: which IP addresses the fetcher may connect to.

Anyone who can write to the ingest topic can point the fetcher at a URL, so the
default is deny for everything that is not a globally routable unicast address:
loopback, private (RFC 1918, ULA), link-local (and so 169.254.169.254, the
cloud metadata address), shared address space (100.64/10), multicast, reserved,
unspecified, documentation and benchmarking ranges. IPv6 forms that embed an
IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``, Teredo) are judged by the embedded address too.

Host literals are read the way the C library would read them before any DNS
lookup, so ``2130706433``, ``0x7f.1`` and ``0177.0.0.1`` are all 127.0.0.1
(see ``literal_address``). The decision is made on addresses, never on names,
and it is made without opening a connection.

An explicit allow-list (``WARCFLOW_FETCH_ALLOW``) opens holes for tests and
private deployments. Entries are ``IP:port`` (``127.0.0.1:8080``,
``[::1]:8080``), ``host:port`` (a host name as written in the URL), or a CIDR
(``10.1.0.0/16``, any port).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from archivers.errors import PolicyRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ODD_IPV4 = re.compile(r"^[0-9a-fA-Fx.]+$")


@dataclass(frozen=True)
class AllowRule:
    """One allow-list entry. Exactly one of ``network`` and ``host`` is set.

    ``port`` is None for CIDR entries (any port) and required otherwise.
    """

    text: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    host: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowRule:
        """Parse ``IP:port``, ``[IPv6]:port``, ``host:port`` or a CIDR; ValueError if none."""
        entry = text.strip()
        if "/" in entry:
            return cls(entry, network=ipaddress.ip_network(entry, strict=False))
        host, sep, port_text = entry.rpartition(":")
        if not sep or not port_text.isdigit() or not host:
            raise ValueError(f"allow-list entry {text!r} is neither host:port nor a CIDR")
        port = int(port_text)
        if not 0 < port < 65536:
            raise ValueError(f"allow-list entry {text!r} has an invalid port")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return cls(entry, host=host.lower(), port=port)
        return cls(entry, network=ipaddress.ip_network(ip), port=port)

    def allows(self, host: str, ip: IPAddress, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return self.host == host.lower()
        assert self.network is not None
        return _unmapped(ip) in self.network or ip in self.network


def parse_allow_list(text: str) -> tuple[AllowRule, ...]:
    """Parse a comma-separated allow-list; empty text gives an empty list."""
    return tuple(AllowRule.parse(item) for item in text.split(",") if item.strip())


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` denotes without DNS, or None if it is a name.

    Besides the standard forms this reads the historical IPv4 forms that the C
    library's ``inet_aton`` accepts (decimal ``2130706433``, octal ``0177.0.0.1``,
    hex ``0x7f.0.0.1``, short ``127.1``), because that is what a connect would use.
    """
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _ODD_IPV4.match(text) and any(c.isdigit() for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def _unmapped(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    embedded = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    if ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return embedded


def why_not_public(ip: IPAddress) -> str | None:
    """None if ``ip`` is a globally routable unicast address, else what it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        # ::ffff:a.b.c.d connects to a.b.c.d; judge that address.
        reason = why_not_public(ip.ipv4_mapped)
        return f"an IPv4-mapped address of {ip.ipv4_mapped}, {reason}" if reason else None
    if isinstance(ip, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(ip):
            reason = why_not_public(inner)
            if reason:
                return f"an IPv6 address embedding {inner}, {reason}"
    checks = (
        ("is_unspecified", "the unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address (cloud metadata lives here)"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, label in checks:
        if getattr(ip, attribute):
            return label
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Decides, per (host as written, resolved IP, port), whether a connect may happen."""

    allow: tuple[AllowRule, ...] = ()

    def check(self, host: str, ip: IPAddress, port: int) -> None:
        """Return if the connection is allowed; raise ``PolicyRefused`` saying why not."""
        if any(rule.allows(host, ip, port) for rule in self.allow):
            return
        reason = why_not_public(ip)
        if reason is None:
            return
        shown = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        named = "" if literal_address(host) == ip else f"{host} resolves to {ip}, "
        raise PolicyRefused(
            f"refused by the address policy: {named}{ip} is {reason} "
            f"(to allow it, add {shown} to WARCFLOW_FETCH_ALLOW)"
        )
