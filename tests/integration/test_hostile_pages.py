"""One URL cannot stop a cluster (security review F3): a real worker (Kafka group
member, 15 s session timeout) captures the review's hostile pages, at and above
the sizes that hurt, and a plain post submitted with them.

Before, each of these pages held the worker's event loop for minutes to hours
(a 160 KB stylesheet of ``url(`` 50 s; 8 MB: hours; ``"<a" * n`` quadratic in
CPython's html.parser): the worker missed its group heartbeat, the message
went to the next worker, which stalled too. Now every page is stored exactly
once — no redelivery, no second capture — and the plain post beside them too.
"""

from __future__ import annotations

import json

import pytest

from tests.support.site import Route
from tests.support.stack import cli, poll

pytestmark = pytest.mark.integration

HOSTILE = {
    "/hostile/css": (
        b'<html><head><link rel="stylesheet" href="/hostile/evil.css"></head><body>x</body></html>'
    ),
    "/hostile/lt-a": b"<p>a post</p>" + b"<a" * (4 * 1024 * 1024),
    "/hostile/style": b'<p style="' + b"url(" * 40_000 + b'">x</p>',
}


def _captures(env, url):
    done = cli("captures", url, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_hostile_pages_are_captured_once_and_the_worker_goes_on(pipeline):
    env, site, worker = pipeline["env"], pipeline["site"], pipeline["worker"]
    site.routes["/hostile/evil.css"] = Route(b"url(" * 2_000_000, content_type="text/css")
    for path, body in HOSTILE.items():
        site.routes[path] = Route(body)
    urls = [site.url(path) for path in HOSTILE] + [site.url("/post/1?beside-hostile")]
    done = cli("submit", *urls, env=env)
    assert done.returncode == 0, done.stderr
    found = poll(
        lambda: (lambda all_: all_ if all(all_.values()) else None)(
            {url: _captures(env, url) for url in urls}
        ),
        timeout=240,
        interval=1,
        what="a capture of every hostile page and of the plain post",
    )
    for url, caps in found.items():
        assert [c["status"] for c in caps] == ["stored"], (url, caps)
    css = found[site.url("/hostile/css")][0]
    assert css["outcome"] == "partial"  # the stylesheet was read only to the parse limit
    log = worker.log()
    lost = [
        line
        for line in log.splitlines()
        if "Heartbeat session expired" in line or "Heartbeat failed" in line
    ]
    assert lost == [], lost  # the worker kept its place in the group throughout
    assert site.count("/hostile/evil.css") == 1  # fetched once: never redelivered
