"""The post's own identity read from page fixtures and yt-dlp info dicts."""

import json
from pathlib import Path

import pytest

from archivers.extract import post as post_module
from archivers.extract.post import MAX_VALUE, post_from_html, post_from_info

POSTS = Path(__file__).parent.parent / "corpus" / "posts"


def read(name: str) -> str:
    return (POSTS / name).read_text()


def test_open_graph_and_article_meta_give_id_author_and_time_in_utc():
    post = post_from_html(read("og-article.html"), "https://social.example/x")
    assert post == {
        "id": "1593012345678901234",
        "url": "https://social.example/tracker/status/1593012345678901234",
        "author": "War Tracker",
        "published_at": "2022-11-16T16:04:05.000000Z",  # +03:00 converted to UTC
        "published_at_raw": None,
        "text": None,
        "source": "page",
        "found_by": {
            "url": "og:url",
            "id": "og:url path",
            "author": "og:article:author",
            "published_at": "article:published_time",
        },
    }


def test_json_ld_post_in_a_graph_beats_meta_and_broken_blocks_are_skipped():
    post = post_from_html(read("jsonld-graph.html"), "https://social.example/posts/p-77?x=1")
    assert post["id"] == "p-77" and post["found_by"]["id"] == "JSON-LD identifier"
    assert post["author"] == "Anna K., Bo"
    assert post["published_at"] == "2022-11-16T16:04:05.000000Z"
    assert post["url"] == "https://social.example/posts/p-77"


def test_time_in_the_post_is_used_and_a_date_without_offset_is_kept_raw():
    post = post_from_html(read("time-only.html"), "https://social.example/u/anna/posts/8841")
    assert post["url"] == "https://social.example/u/anna/posts/8841"  # canonical, absolutised
    assert post["id"] == "8841" and post["author"] == "anna"
    assert post["published_at"] is None and post["published_at_raw"] == "2022-11-16"
    assert post["found_by"]["published_at"] == "<article> <time datetime>"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<p>no claims here</p>",
        "<<<>>>\x00<meta",
        '<script type="application/ld+json">' + "[" * 100_000 + "</script>",
    ],
)
def test_pages_without_claims_or_broken_give_none(html):
    assert post_from_html(html, "https://e.example/") is None


def test_parsing_is_bounded(monkeypatch):
    huge = '<meta name="author" content="' + "a" * 10_000 + '">'
    assert len(post_from_html(huge, "https://e.example/")["author"]) == MAX_VALUE
    monkeypatch.setattr(post_module, "PARSE_LIMIT", 1000)
    late = "<p>" + "x" * 2000 + '</p><meta name="author" content="too late">'
    assert post_from_html(late, "https://e.example/") is None


def test_yt_dlp_info_gives_id_uploader_and_epoch_time():
    info = {
        "id": "dQw4w9WgXcQ",
        "uploader": "Kazan News",
        "uploader_id": "@kazan",
        "timestamp": 1668614645,
        "upload_date": "20221116",
        "webpage_url": "https://video.example/watch?v=dQw4w9WgXcQ",
    }
    post = post_from_info(info)
    assert post == {
        "id": "dQw4w9WgXcQ",
        "url": "https://video.example/watch?v=dQw4w9WgXcQ",
        "author": "Kazan News",
        "published_at": "2022-11-16T16:04:05.000000Z",
        "published_at_raw": None,
        "text": None,
        "source": "yt-dlp",
        "found_by": {
            "id": "id",
            "author": "uploader",
            "published_at": "timestamp",
            "url": "webpage_url",
        },
    }
    json.dumps(post)  # goes into manifests as it is


def test_yt_dlp_upload_date_alone_is_kept_raw():
    post = post_from_info({"id": "42", "channel": "c", "upload_date": "20221116"})
    assert post["published_at"] is None and post["published_at_raw"] == "20221116"
    assert post["author"] == "c" and post["found_by"]["author"] == "channel"


def test_no_info_gives_none():
    assert post_from_info(None) is None and post_from_info({"title": "x"}) is None
