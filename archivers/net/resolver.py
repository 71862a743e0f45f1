"""Name resolution for the fetcher: one-method interface, real and fake.

The fetcher resolves a host once, checks every address against the policy,
then connects to a checked address directly, so a DNS answer that changes
between check and connect cannot redirect the connection (no re-resolution).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Protocol

from archivers.errors import FetchUnavailable, InvalidURL
from archivers.net.addresses import IPAddress, literal_address


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Addresses for ``host`` in preference order; raise a CaptureError if none."""


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), run off the event loop."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise InvalidURL(
                    f"host {host!r} does not exist (DNS: {exc.strerror})", reason="dns_not_found"
                ) from None
            raise FetchUnavailable(
                f"DNS lookup of {host!r} failed: {exc.strerror}", reason="dns_failure"
            ) from None
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            if ip not in addresses:
                addresses.append(ip)
        return addresses


class StaticResolver:
    """In-package fake: a fixed table of names; literals resolve as themselves."""

    def __init__(self, table: Mapping[str, Sequence[str]]) -> None:
        self._table = {
            name.lower(): [ipaddress.ip_address(a) for a in addrs] for name, addrs in table.items()
        }

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        try:
            return list(self._table[host.lower()])
        except KeyError:
            raise InvalidURL(f"host {host!r} does not exist", reason="dns_not_found") from None
