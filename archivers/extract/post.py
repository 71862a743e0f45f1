"""The post's own identity: its id, author and publication time, as the page or
yt-dlp states them, kept apart from the capture's own times.

Two pure functions, no I/O:

- ``post_from_html(html, page_url)`` reads the page's claims: Open Graph and
  article meta tags (``og:url``, ``article:published_time``,
  ``og:article:author`` / ``article:author``, ``<meta name="author">``),
  ``<link rel="canonical">``, JSON-LD (``identifier``, ``author``,
  ``datePublished`` / ``uploadDate``) and the first ``<time datetime>``
  inside the post (``<article>``, else ``<main>``);
- ``post_from_info(info)`` reads yt-dlp's info dict (``id``, ``uploader`` /
  ``channel`` / ``uploader_id``, ``timestamp`` / ``release_timestamp`` /
  ``upload_date``).

Both return the ``post`` object of docs/formats.md, or None when nothing was
found::

    {"id", "url", "author", "published_at", "published_at_raw", "text", "source", "found_by"}

``text`` is the post's own text as the page or extractor states it (JSON-LD
``articleBody`` / ``text`` / ``description``, else ``og:description``,
``twitter:description`` or ``<meta name="description">``; yt-dlp's
``description``, else its ``title``), at most ``MAX_TEXT`` characters: the
viewer's full-text search indexes it (the readable text of the whole page is a
conversion record of its own, ``archivers.extract.text``).

Invariants: ``published_at`` is either None or an ISO 8601 UTC time with
microseconds (``archivers.clock.iso``), set only from a value that carries its
own UTC offset (or an epoch); anything else the page or extractor gave (a date
only, a time without offset, free text) is kept verbatim in
``published_at_raw`` rather than guessed at. ``found_by`` names, per field,
the tag or key the value came from, since these are the page's claims, not
facts warcflow established. These values are what the post says about itself:
the capture's own times are ``fetched_at`` / ``finished_at``.

Bounded: at most ``PARSE_LIMIT`` characters of HTML are parsed, at most
``MAX_JSONLD`` JSON-LD blocks of at most ``MAX_JSONLD_CHARS`` each, and every
string kept is cut at ``MAX_VALUE``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from archivers.clock import iso
from archivers.extract.html import TagWalker

PARSE_LIMIT = 2 * 1024 * 1024
"""Most characters of a page's HTML searched for the post's identity."""
MAX_JSONLD = 16
MAX_JSONLD_CHARS = 256 * 1024
MAX_VALUE = 500
"""Longest string kept for any field (an author, an id)."""
MAX_TEXT = 5000
"""Longest post text kept."""

_AUTHOR_META = ("og:article:author", "article:author", "author", "twitter:creator")
_PUBLISHED_META = ("article:published_time", "og:article:published_time", "datepublished")


def published(value: Any) -> dict[str, str | None]:
    """``{"published_at", "published_at_raw"}`` for a time as a page or extractor gave it."""
    if value is None or value == "":
        return {"published_at": None, "published_at_raw": None}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return {
                "published_at": iso(datetime.fromtimestamp(value, UTC)),
                "published_at_raw": None,
            }
        except (OverflowError, OSError, ValueError):
            return {"published_at": None, "published_at_raw": str(value)[:MAX_VALUE]}
    text = str(value).strip()[:MAX_VALUE]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return {"published_at": None, "published_at_raw": text}
    return {"published_at": iso(moment), "published_at_raw": None}


class _PostParser(TagWalker):
    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.canonical: str | None = None
        self.jsonld: list[str] = []
        self.post_time: str | None = None
        self._in_jsonld: list[str] | None = None
        self._jsonld_chars = 0
        self._article_depth = 0
        self._main_depth = 0
        self.main_time: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            name = (a.get("property") or a.get("name") or a.get("itemprop") or "").lower()
            if name and a.get("content") and name not in self.meta:
                self.meta[name] = a["content"].strip()
        elif tag == "link" and "canonical" in a.get("rel", "").lower().split():
            self.canonical = self.canonical or a.get("href") or None
        elif tag == "script" and a.get("type", "").lower().startswith("application/ld+json"):
            if len(self.jsonld) < MAX_JSONLD:
                self._in_jsonld, self._jsonld_chars = [], 0
        elif tag == "article":
            self._article_depth += 1
        elif tag == "main":
            self._main_depth += 1
        elif tag == "time" and a.get("datetime"):
            if self._article_depth and self.post_time is None:
                self.post_time = a["datetime"].strip()
            elif self._main_depth and self.main_time is None:
                self.main_time = a["datetime"].strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_jsonld is not None:
            self.jsonld.append("".join(self._in_jsonld))
            self._in_jsonld = None
        elif tag == "article" and self._article_depth:
            self._article_depth -= 1
        elif tag == "main" and self._main_depth:
            self._main_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_jsonld is not None and self._jsonld_chars < MAX_JSONLD_CHARS:
            self._in_jsonld.append(data)
            self._jsonld_chars += len(data)


def _jsonld_items(blocks: list[str]) -> list[dict[str, Any]]:
    """The JSON-LD objects of the page, ``@graph`` members included, in page order."""
    items: list[dict[str, Any]] = []
    for block in blocks:
        try:
            doc = json.loads(block[:MAX_JSONLD_CHARS])
        except (ValueError, RecursionError):
            continue
        for item in doc if isinstance(doc, list) else [doc]:
            if not isinstance(item, dict):
                continue
            graph = item.get("@graph")
            if isinstance(graph, list):
                items.extend(g for g in graph if isinstance(g, dict))
            else:
                items.append(item)
    return items[:64]


def _name(value: Any) -> str | None:
    """An author as JSON-LD gives it: a string, a Person/Organization, or a list."""
    if isinstance(value, list):
        names = [n for n in (_name(v) for v in value[:10]) if n]
        return ", ".join(names)[:MAX_VALUE] if names else None
    if isinstance(value, dict):
        for key in ("name", "alternateName", "identifier", "url"):
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key].strip()[:MAX_VALUE]
        return None
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_VALUE]
    return None


def _identifier(value: Any) -> str | None:
    if isinstance(value, list):
        return next((i for i in (_identifier(v) for v in value[:10]) if i), None)
    if isinstance(value, dict):
        return _identifier(value.get("value") or value.get("@value"))
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value).strip()[:MAX_VALUE]
    return None


_POST_TYPES = (
    "socialmediaposting",
    "discussionforumposting",
    "blogposting",
    "newsarticle",
    "article",
    "videoobject",
    "imageobject",
    "comment",
    "creativework",
)


def _main_item(items: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON-LD object describing the post: the first of a post-like type."""

    def types(item: dict[str, Any]) -> list[str]:
        kind = item.get("@type")
        return [str(k).lower() for k in (kind if isinstance(kind, list) else [kind])]

    for wanted in _POST_TYPES:
        for item in items:
            if wanted in types(item):
                return item
    return None


def _id_from_url(url: str | None) -> str | None:
    """The last path segment of a post URL when it looks like an id (has a digit)."""
    if not url:
        return None
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if segments and re.search(r"\d", segments[-1]) and len(segments[-1]) <= 100:
        return segments[-1]
    return None


def post_from_html(html: str, page_url: str) -> dict[str, Any] | None:
    """The post's identity as the page states it (see the module docstring)."""
    parser = _PostParser()
    parser.walk(html[:PARSE_LIMIT])
    meta = parser.meta
    item = _main_item(_jsonld_items(parser.jsonld)) or {}
    found_by: dict[str, str] = {}

    url = None
    for name, value in (
        ("og:url", meta.get("og:url")),
        ("link rel=canonical", parser.canonical),
        ("JSON-LD url", item.get("url") if isinstance(item.get("url"), str) else None),
    ):
        if value:
            url, found_by["url"] = urljoin(page_url, value.strip())[:2048], name
            break

    post_id = _identifier(item.get("identifier"))
    if post_id:
        found_by["id"] = "JSON-LD identifier"
    else:
        post_id = _id_from_url(url)
        if post_id:
            found_by["id"] = f"{found_by['url']} path"

    author = _name(item.get("author"))
    if author:
        found_by["author"] = "JSON-LD author"
    else:
        for name in _AUTHOR_META:
            if meta.get(name):
                author, found_by["author"] = meta[name][:MAX_VALUE], name
                break

    when: Any = None
    for name in _PUBLISHED_META:
        if meta.get(name):
            when, found_by["published_at"] = meta[name], name
            break
    else:
        for key in ("datePublished", "uploadDate", "dateCreated"):
            if isinstance(item.get(key), str) and item[key].strip():
                when, found_by["published_at"] = item[key], f"JSON-LD {key}"
                break
        else:
            for name, value in (
                ("<article> <time datetime>", parser.post_time),
                ("<main> <time datetime>", parser.main_time),
            ):
                if value:
                    when, found_by["published_at"] = value, name
                    break

    text = None
    for key in ("articleBody", "text", "description"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            text, found_by["text"] = value.strip()[:MAX_TEXT], f"JSON-LD {key}"
            break
    else:
        for name in ("og:description", "twitter:description", "description"):
            if meta.get(name):
                text, found_by["text"] = meta[name][:MAX_TEXT], name
                break

    if not (post_id or author or when or url):
        return None
    return {
        "id": post_id,
        "url": url,
        "author": author,
        **published(when),
        "text": text,
        "source": "page",
        "found_by": found_by,
    }


def post_from_info(info: dict[str, Any] | None) -> dict[str, Any] | None:
    """The post's identity as yt-dlp's info dict states it (see the module docstring)."""
    if not info:
        return None
    found_by: dict[str, str] = {}
    post_id = _identifier(info.get("id"))
    if post_id:
        found_by["id"] = "id"
    author = None
    for key in ("uploader", "channel", "uploader_id", "creator"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            author, found_by["author"] = value.strip()[:MAX_VALUE], key
            break
    when: Any = None
    for key in ("timestamp", "release_timestamp", "upload_date", "release_date"):
        value = info.get(key)
        if value not in (None, ""):
            when, found_by["published_at"] = value, key
            break
    url = info.get("webpage_url") if isinstance(info.get("webpage_url"), str) else None
    if url:
        found_by["url"] = "webpage_url"
    text = None
    for key in ("description", "title"):
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            text, found_by["text"] = value.strip()[:MAX_TEXT], key
            break
    if not (post_id or author or when):
        return None
    return {
        "id": post_id,
        "url": url,
        "author": author,
        **published(when),
        "text": text,
        "source": "yt-dlp",
        "found_by": found_by,
    }
