"""Capture modes and the site rules that choose one.

A submission asks for a mode (``SubmitRequest.mode``):

    static   the recording fetcher alone: the page as served plus the requisites
             its HTML and CSS name (fast; what most pages need)
    browser  headless Chromium renders the page, every request it makes goes
             through the same fetcher, and a full-page screenshot is kept
             (``archivers.browser``): pages that only render by script
    auto     (default) ``browser`` if the URL's host matches a site rule
             (WARCFLOW_BROWSER_SITES), else ``static``

A site rule is a host name, matching that host and every subdomain
(``x.com`` matches ``x.com`` and ``mobile.x.com``, not ``notx.com``); a leading
``*.`` means the same. A rule with a port (``127.0.0.1:8080``) matches that
host and port only. Rules are lower-case; hosts are compared lower-case.
"""

from __future__ import annotations

from urllib.parse import urlsplit

STATIC = "static"
BROWSER = "browser"
AUTO = "auto"
MODES = (STATIC, BROWSER, AUTO)

SCRIPT_HEAVY_SITES = (
    "x.com",
    "twitter.com",
    "instagram.com",
    "facebook.com",
    "threads.net",
    "threads.com",
    "tiktok.com",
    "bsky.app",
    "linkedin.com",
    "vk.com",
    "ok.ru",
    "weibo.com",
)
"""Default site rules: platforms whose posts render by script (an almost empty
HTML shell when fetched statically)."""


def parse_sites(text: str) -> tuple[str, ...]:
    """Comma-separated site rules, normalised; ValueError for one that is not a host."""
    rules = []
    for item in text.split(","):
        rule = item.strip().lower()
        if not rule:
            continue
        rule = rule.removeprefix("*.")
        host, _, port = rule.rpartition(":") if rule.count(":") == 1 else (rule, "", "")
        if (not host or any(c in host for c in "/?#@ *")) or (port and not port.isdigit()):
            raise ValueError(f"{item.strip()!r} is not a host name or host:port")
        rules.append(rule)
    return tuple(rules)


def matches(url: str, rules: tuple[str, ...]) -> str | None:
    """The first rule matching ``url``'s host (and port, for rules with one), or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    for rule in rules:
        if ":" in rule:
            rule_host, rule_port = rule.rsplit(":", 1)
            if host == rule_host and port == int(rule_port):
                return rule
        elif host == rule or host.endswith("." + rule):
            return rule
    return None


def choose_mode(requested: str, url: str, rules: tuple[str, ...]) -> str:
    """``static`` or ``browser`` for a submission asking for ``requested``."""
    if requested in (STATIC, BROWSER):
        return requested
    return BROWSER if matches(url, rules) else STATIC
