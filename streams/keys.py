"""Which member of the workers' group captures a URL: keys and the partition they own.

One host budget for the cluster (docs/decisions/0026): every message about a
page (its ingest request, its retries, its media requests, its events) is
keyed by the page's *site*, its registrable domain (``archivers.urls.site_of``),
so all of one site's work is on one partition of each topic. The workers'
group assigns the same partition number of every topic with the same
partition count to the same member (faust's co-partitioned assignor), so one
worker process fetches from a site at a time, and its per-host budget
(``WARCFLOW_FETCH_PER_HOST``, its host delay, its holds) is the cluster's.

A producer that keys otherwise (kcat, a script, a bare URL line without a key)
lands on any partition: the capture agent forwards such a message to the
partition that owns its site (``owner``) before any fetch, through the sealed
retry topic with the capture id of the message as submitted, so a forward
delivered twice is still one capture.

The escape for a platform one worker process cannot keep up with
(``WARCFLOW_SPREAD_SITES``): its URLs are keyed by their SURT, as before,
spread over every partition; then N workers together press N times the
per-host budget on it, which the operator sets knowing that.

Partitions are Kafka's default partitioner's: murmur2 of the key (Java's,
kafka-python's and aiokafka's alike), positive, modulo the partition count.
"""

from __future__ import annotations

from collections.abc import Iterable

from archivers.urls import site_of, surt


def spread_sites(names: Iterable[str]) -> frozenset[str]:
    """The sites of ``WARCFLOW_SPREAD_SITES`` as ``site_key`` compares them;
    ValueError naming an entry that is not a host name (a URL, a pattern)."""
    out = set()
    for name in (n.strip() for n in names):
        if not name:
            continue
        if any(c in name for c in "/:*?@ ") or "." not in name:
            raise ValueError(
                f"{name!r} is not a site: give registrable domains such as x.com, "
                "without scheme, path, port or wildcard"
            )
        out.add(site_of(f"http://{name}/"))
    return frozenset(out)


def site_key(url: str, spread: frozenset[str] = frozenset()) -> bytes:
    """The key of every message about the page ``url``: its site, or for a site
    in ``spread`` its SURT (the module docstring)."""
    site = site_of(url)
    if not site or site in spread:
        return surt(url).encode("utf-8")
    return site.encode("utf-8")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of ``data`` (a signed 32-bit int, as Java computes it)."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    full = length - length % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[full + 2] << 16
    if rest >= 2:
        h ^= data[full + 1] << 8
    if rest >= 1:
        h ^= data[full]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def owner(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
