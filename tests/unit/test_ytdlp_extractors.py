"""Which URLs yt-dlp's extractors claim (archivers.media.ytdlp), and the fast host filter."""

from archivers.media import ytdlp


def test_real_extractors_know_platform_urls_but_not_plain_pages():
    assert ytdlp.extractor_recognises("https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    assert ytdlp.extractor_recognises("https://x.com/someone/status/1579465932136505346")
    assert not ytdlp.extractor_recognises("http://127.0.0.1:8080/post/1")


def test_the_host_filter_agrees_with_asking_every_extractor():
    # yt-dlp's own test URLs for every extractor, and plain pages: the filtered
    # lookup must say exactly what asking all 1,600 extractors says.
    urls = [
        "http://127.0.0.1:8000/post/1",
        "https://example.org/a/b?c=d",
        "HTTP://Example.ORG/x",
        "https://mastodon.social/@user/109",
        "https://t.me/s/channel",
    ]
    for ie in ytdlp._extractors():
        for case in (getattr(ie, "_TESTS", None) or [])[:1]:
            if isinstance(case, dict) and isinstance(case.get("url"), str):
                urls.append(case["url"])
    assert len(urls) > 1000
    disagree = [
        url
        for url in urls
        if ytdlp.extractor_recognises.__wrapped__(url)
        != any(ie.suitable(url) for ie in ytdlp._extractors())
    ]
    assert disagree == []
    assert ytdlp.extractor_recognises("https://www.youtube.com/watch?v=BaW_jenozKc")
    assert not ytdlp.extractor_recognises("http://127.0.0.1:8000/post/1")
