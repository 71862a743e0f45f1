"""Posts that exist only once their scripts run: what the browser capture is for.

``install(site, canary_origin)`` serves on ``site``:

  /post/js          an empty shell whose script fetches /api/post.json and renders
                    the post text and a <video> from it; far below, an image that
                    gets its src only when scrolled into view (lazy loading)
  /post/js-redirect a redirect to /post/js
  /post/js-canary   a page whose script and markup try to load from ``canary_origin``
                    (a private address nothing may reach)

A static fetch of /post/js sees none of the post text, the video or the image.
"""

from __future__ import annotations

import json

from tests.support.site import Route, png

JS_TEXT = "Conscripts filmed refusing orders outside the Kazan barracks"
JS_VIDEO = "/media/clip.webm"

SHELL = """<!doctype html><html><head><meta charset="utf-8"><title>A post</title>
<style>body { margin: 0; font: 32px sans-serif; background: #fff; }
#post { background: #123d7a; color: #ffe14d; padding: 40px; min-height: 300px; }
#lazy { display: block; width: 320px; height: 240px; }</style>
<script src="/static/render.js" defer></script></head>
<body><main id="post">loading…</main>
<div style="height: 2400px"></div>
<img id="lazy" data-src="/img/lazy.png" alt="lazy">
</body></html>"""

RENDER_JS = """(function () {
  fetch("/api/post.json").then(function (r) { return r.json(); }).then(function (post) {
    var main = document.getElementById("post");
    main.textContent = "";
    var p = document.createElement("p");
    p.id = "text";
    p.textContent = post.text;
    main.appendChild(p);
    var video = document.createElement("video");
    video.id = "clip";
    video.src = post.video;
    video.muted = true;
    main.appendChild(video);
  });
  var lazy = document.getElementById("lazy");
  function near() {
    if (!lazy.src && lazy.getBoundingClientRect().top < window.innerHeight + 100) {
      lazy.src = lazy.getAttribute("data-src");
    }
  }
  window.addEventListener("scroll", near);
})();
"""

CANARY_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Canary</title></head>
<body><p id="text">A post with a tracking pixel inside</p>
<img src="{canary}/pixel.png">
<script>fetch("{canary}/api/secret").catch(function () {{}});
var s = document.createElement("script"); s.src = "{canary}/evil.js"; document.head.appendChild(s);
</script></body></html>"""


def install(site, canary_origin: str) -> None:
    site.routes["/post/js"] = Route(SHELL.encode())
    site.routes["/static/render.js"] = Route(
        RENDER_JS.encode(), content_type="application/javascript"
    )
    site.routes["/api/post.json"] = Route(
        json.dumps({"text": JS_TEXT, "video": JS_VIDEO}).encode(),
        content_type="application/json",
        gzip=True,
    )
    site.routes["/img/lazy.png"] = Route(png(320, 240, (30, 160, 60)), content_type="image/png")
    site.routes["/post/js-redirect"] = Route(b"", status=302, headers=[("Location", "/post/js")])
    site.routes["/post/js-canary"] = Route(CANARY_PAGE.format(canary=canary_origin).encode())


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB or RGBA PNG, decoded with zlib
    (no imaging library needed): enough to tell a blank screenshot from a real one."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def colours(data: bytes, step: int = 7) -> dict[tuple[int, ...], int]:
    """How often each RGB colour occurs among a sample of the PNG's pixels."""
    width, _height, rows = png_pixels(data)
    channels = len(rows[0]) // width
    seen: dict[tuple[int, ...], int] = {}
    for row in rows[::step]:
        for x in range(0, width, step):
            pixel = tuple(row[x * channels : x * channels + 3])
            seen[pixel] = seen.get(pixel, 0) + 1
    return seen
