from archivers.extract.media import find_media

PAGE = "https://example.org/post/1"


def found(html, recognises=lambda url: False, **kw):
    return [
        (m.url, m.kind, m.found_by) for m in find_media(html, PAGE, recognises=recognises, **kw)
    ]


def test_metadata_video_and_media_elements():
    html = """<meta property="og:video" content="https://cdn.example.org/v/1.mp4">
      <meta property="og:video:secure_url" content="https://cdn.example.org/v/1.mp4">
      <meta name="twitter:player:stream" content="/v/1.m3u8">
      <video src="/v/2.webm" poster="/p.jpg"></video>
      <video><source src="/v/3.mpd" type="application/dash+xml"><source src="/v/3.mp4"></video>
      <audio src="/a/voice.ogg"></audio>"""
    assert found(html) == [
        ("https://cdn.example.org/v/1.mp4", "direct", "og:video"),
        ("https://example.org/v/1.m3u8", "stream", "twitter:player:stream"),
        ("https://example.org/v/2.webm", "direct", "<video src>"),
        ("https://example.org/v/3.mpd", "stream", "<video><source>"),
        ("https://example.org/v/3.mp4", "direct", "<video><source>"),
        ("https://example.org/a/voice.ogg", "direct", "<audio src>"),
    ]


def test_links_to_media_files_and_stream_types():
    html = """<a href="/files/clip.MP4">download</a> <a href="/about">about</a>
              <video><source src="/live" type="application/x-mpegURL"></video>"""
    assert found(html) == [
        ("https://example.org/files/clip.MP4", "direct", "<a href>"),
        ("https://example.org/live", "stream", "<video><source>"),
    ]


def test_embeds_and_the_page_itself_need_an_extractor():
    html = '<iframe src="https://www.youtube.com/embed/abc"></iframe><iframe src="/ad"></iframe>'
    youtube = lambda url: "youtube.com" in url  # noqa: E731
    assert found(html, youtube) == [
        ("https://www.youtube.com/embed/abc", "extractor", "<iframe src>")
    ]
    assert found("<p>text only</p>", lambda url: url == PAGE) == [
        (PAGE, "extractor", "yt-dlp extractor")
    ]
    assert found("<p>text only</p>") == []


def test_no_schemes_but_http_and_a_limit():
    html = "".join(f'<video src="/v/{n}.mp4"></video>' for n in range(30))
    html += '<video src="data:video/mp4;base64,AAAA"></video><video src="blob:x"></video>'
    result = found(html, limit=5)
    assert len(result) == 5 and all(url.startswith("https://") for url, _, _ in result)
