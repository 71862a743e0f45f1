"""What became of a capture attempt, in the words an investigator uses.

``status`` says stored or failed; the outcome class says why, so a timeline
can show "deleted" or "login wall" rather than an HTTP code:

    ok            stored, every requisite fetched, no limit hit
    partial       stored, with ``missing`` saying what is not there
    login_wall    the page answered 401/403, or the capture landed on a login page
    deleted       404 or 410: the post is gone (liveness rechecks confirm it over time)
    geo_blocked   451 Unavailable For Legal Reasons
    rate_limited  429, even after the retries
    refused       warcflow's own policy refused it (address, scheme, redirect)
    failed        anything else (network trouble, 5xx after the retries, …)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from archivers.extract.requisites import HTML_TYPES
from archivers.net.recording import Exchange, content_type, decoded_body

LOGIN_PATH = re.compile(r"/(log-?in|sign-?in|accounts/login|i/flow/login)(/|$)", re.I)
REFUSED = {"policy_refused", "redirect_refused", "invalid_url"}


def classify(
    status: str,
    reason: str | None,
    http_status: int | None,
    final_url: str | None,
    requisites: dict[str, int] | None,
    limits_hit: list[str] | None,
) -> tuple[str, list[str]]:
    """(outcome class, what is missing) for a capture's facts."""
    if status == "stored":
        if final_url and LOGIN_PATH.search(urlsplit(final_url).path):
            return "login_wall", [f"the page redirected to a login page: {final_url}"]
        missing = []
        failed = (requisites or {}).get("failed", 0)
        if failed:
            missing.append(f"{failed} page requisite(s) could not be fetched")
        missing.extend(limits_hit or [])
        return ("partial", missing) if missing else ("ok", [])
    base = (reason or "").rsplit(":", 1)[-1]
    code = http_status or (int(base[5:]) if re.fullmatch(r"http_\d{3}", base) else None)
    if code in (404, 410):
        return "deleted", []
    if code == 451:
        return "geo_blocked", []
    if code == 429:
        return "rate_limited", []
    if code in (401, 403):
        return "login_wall", []
    if base in REFUSED:
        return "refused", []
    return "failed", []


CHALLENGE = re.compile(
    rb"challenge-platform|cf-chl-|cf_chl_opt|/cdn-cgi/challenge|px-captcha|g-recaptcha|"
    rb"h-captcha|hcaptcha\.com|arkoselabs|captcha-delivery|checking your browser|"
    rb"please wait a few minutes before you try again|confirm you.re not a robot",
    re.I,
)
"""Marks of a bot challenge or a block page (Cloudflare, PerimeterX, reCAPTCHA,
hCaptcha, Arkose, DataDome, Instagram's "Please wait a few minutes")."""


INTERSTITIAL_BYTES = 16 * 1024
"""A challenge page is small: the marker of a bot check in a page this small (or
one answered 403, 429 or 503) is the interstitial itself, not a comment form's
reCAPTCHA or Cloudflare's detection script in an ordinary post."""


def wall_of(http_status: int, final_url: str, head_of_body: bytes) -> tuple[str, str] | None:
    """What a capture made with a logged-in session ran into, as (session state,
    reason): ``expired`` for a login wall (401, or a redirect to a login page:
    the session no longer opens the post), ``challenged`` for a challenge
    interstitial (a marker in a small page, or in a 403/429/503 answer); None
    when the page looks like the post. ``head_of_body`` is the first bytes of
    the decoded page (64 KiB is plenty). A plain 403 is not blamed on the
    session: it is as often a post nobody may see."""
    if http_status == 401:
        return "expired", f"the page answered HTTP {http_status}"
    if LOGIN_PATH.search(urlsplit(final_url).path):
        return "expired", f"the page redirected to a login page: {final_url}"
    marker = CHALLENGE.search(head_of_body)
    if marker and (http_status in (403, 429, 503) or len(head_of_body) < INTERSTITIAL_BYTES):
        return "challenged", f"a challenge page ({marker.group(0).decode('latin-1')!r})"
    return None


USUAL_SAMPLES = 5
"""Pages of a site seen with a session before its usual size is trusted."""
SMALL_FACTOR = 8
"""A page this many times smaller than the site's usual one is not the post."""


def smaller_than_usual(size: int, usual: list[int]) -> str | None:
    """Why a page of ``size`` bytes, fetched with a session, is not the post, when
    the site's pages fetched with sessions (``usual``: their sizes, the latest
    last) were all but never that small: under an eighth of their median. A
    platform's post page is mostly the platform's own markup, so a logged-out
    shell, a consent page or an interstitial served at the post's URL is far
    smaller than any post; None until ``USUAL_SAMPLES`` pages were seen."""
    if len(usual) < USUAL_SAMPLES:
        return None
    median = sorted(usual)[len(usual) // 2]
    if size * SMALL_FACTOR >= median:
        return None
    return (
        f"the page is {size:,} bytes, under an eighth of this site's usual post with a "
        f"session ({median:,} bytes, the median of the last {len(usual)}): a login wall "
        "or an interstitial, not the post"
    )


USUAL_SIZE_CAP = 4 * 1024 * 1024
"""Bytes of a page decoded to measure it for the "smaller than usual" rule."""


def page_wall(
    final: Exchange, usual_of: Callable[[str], list[int]]
) -> tuple[tuple[str, str] | None, tuple[str, int] | None]:
    """The one rule of what a page fetched with a session says of the session,
    for captures and `session test` alike: (``wall_of``'s answer, or the
    ``smaller_than_usual`` one as ``expired``; the (host, size) to note as the
    host's usual size when the page passed that rule). ``usual_of(host)`` gives
    the host's usual sizes. Only a complete 200 HTML page is measured — as it
    decodes, per host (m.facebook.com's posts are not www's); a cut page says
    nothing of the site's size."""
    head = decoded_body(final.response, 64 * 1024)
    wall = wall_of(final.status, final.url, head)
    if (
        wall is not None
        or final.status != 200
        or final.response.truncated
        or content_type(final.response) not in HTML_TYPES
    ):
        return wall, None
    host = (urlsplit(final.url).hostname or "").lower()
    size = len(decoded_body(final.response, USUAL_SIZE_CAP))
    small = smaller_than_usual(size, usual_of(host))
    if small is not None:
        return ("expired", small), None
    return None, (host, size)


def outcome_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """``outcome`` and ``missing`` for a manifest-like dict."""
    outcome, missing = classify(
        doc.get("status", ""),
        doc.get("reason"),
        doc.get("http_status"),
        doc.get("final_url"),
        doc.get("requisites"),
        doc.get("limits_hit"),
    )
    return {"outcome": outcome, "missing": missing}
