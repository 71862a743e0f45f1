"""Outcome classes: what a timeline says about each attempt."""

import asyncio

import pytest

from archivers.errors import PolicyRefused
from archivers.manifests.outcome import classify
from tests.support.pages import make, request_for
from tests.support.site import Route


@pytest.mark.parametrize(
    "status, reason, code, final, expected",
    [
        ("stored", None, 200, "https://x.example/p/1", "ok"),
        ("stored", None, 200, "https://x.example/i/flow/login?redirect=p1", "login_wall"),
        ("stored", None, 200, "https://x.example/accounts/login/", "login_wall"),
        ("failed", "http_404", 404, None, "deleted"),
        ("failed", "http_410", 410, None, "deleted"),
        ("failed", "http_451", 451, None, "geo_blocked"),
        ("failed", "retries_exhausted:http_429", None, None, "rate_limited"),
        ("failed", "http_403", 403, None, "login_wall"),
        ("failed", "policy_refused", None, None, "refused"),
        ("failed", "retries_exhausted:connection_error", None, None, "failed"),
    ],
)
def test_classes(status, reason, code, final, expected):
    assert classify(status, reason, code, final, {"fetched": 3, "failed": 0}, [])[0] == expected


def test_partial_says_what_is_missing():
    outcome, missing = classify(
        "stored",
        None,
        200,
        "https://x.example/p",
        {"failed": 2},
        ["max_requisites=150: 9 not fetched"],
    )
    assert outcome == "partial"
    assert missing == [
        "2 page requisite(s) could not be fetched",
        "max_requisites=150: 9 not fetched",
    ]


def test_captures_carry_their_class(site):
    # an image on an address the policy refuses: the page is kept without it
    site.routes["/broken-img"] = Route(b'<html><img src="http://10.0.0.1/a.png"></html>')
    archiver, _ = make(site)
    ok = asyncio.run(archiver.capture(request_for(site.url("/post/1")))).manifest
    assert (ok.outcome, ok.missing) == ("ok", [])
    assert ok.summary()["outcome"] == "ok"
    gone = asyncio.run(archiver.capture(request_for(site.url("/gone"), offset=2))).manifest
    assert gone.outcome == "deleted" and gone.summary()["outcome"] == "deleted"
    partial = asyncio.run(archiver.capture(request_for(site.url("/broken-img"), offset=3))).manifest
    assert partial.outcome == "partial"
    assert partial.missing == ["1 page requisite(s) could not be fetched"]
    refused = asyncio.run(
        archiver.record_failure(
            request_for("http://10.0.0.1/x", offset=4), reason=PolicyRefused.reason, message="no"
        )
    )
    assert refused.manifest.outcome == "refused"
