"""Watched sources on a TestSite: a feed, a Telegram-like channel preview, a
sitemap and a timeline page, whose posts the test adds as it goes.

``Sources.publish(n)`` makes post ``n`` appear on all four, as a site would:
the post page itself, an RSS item, a channel message (with a photo), a sitemap
entry and a timeline link. ``expected(n)`` is every URL a watcher should submit
for it.
"""

from __future__ import annotations

from tests.support.site import Route, TestSite, png

CHANNEL = "wartracker"


class Sources:
    def __init__(self, site: TestSite) -> None:
        self.site = site
        self.posts: list[int] = []
        self.site.routes["/broken.xml"] = Route(
            b"<rss><channel><item>", content_type="application/rss+xml"
        )
        self._render()

    # the watched URLs
    feed = "/feed.xml"
    channel = f"/s/{CHANNEL}"
    sitemap = "/sitemap.xml"
    timeline = "/timeline"
    pattern = r"/status/\d+$"

    def publish(self, *numbers: int) -> None:
        for n in numbers:
            self.posts.append(n)
            for path in (f"/posts/{n}", f"/{CHANNEL}/{n}", f"/pages/{n}", f"/tracker/status/{n}"):
                self.site.routes[path] = Route(
                    f"<html><body><p>post {n}</p></body></html>".encode()
                )
            self.site.routes[f"/media/{n}.png"] = Route(
                png(4, 4, (n % 256, 0, 0)), content_type="image/png"
            )
        self._render()

    def expected(self, n: int) -> dict[str, set[str]]:
        """kind → the URLs a watch of that kind submits for post ``n``."""
        url = self.site.url
        return {
            "feed": {url(f"/posts/{n}")},
            "telegram": {url(f"/{CHANNEL}/{n}"), url(f"/media/{n}.png")},
            "sitemap": {url(f"/pages/{n}")},
            "links": {url(f"/tracker/status/{n}")},
        }

    def _render(self) -> None:
        items = "".join(
            f"<item><title>post {n}</title><link>{self.site.url(f'/posts/{n}')}</link></item>"
            for n in reversed(self.posts)
        )
        feed = (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}'
            "</channel></rss>"
        )
        messages = "".join(
            f'<div class="tgme_widget_message_wrap"><div class="tgme_widget_message" '
            f'data-post="{CHANNEL}/{n}"><a class="tgme_widget_message_photo_wrap" '
            f'style="background-image:url(\'/media/{n}.png\')" href="/{CHANNEL}/{n}"></a>'
            f'<div class="tgme_widget_message_text">post {n}</div></div></div>'
            for n in self.posts
        )
        channel = (
            f'<html><body><div class="tgme_channel_info">{CHANNEL}</div>'
            f'<section class="tgme_channel_history">{messages}</section></body></html>'
        )
        urls = "".join(f"<url><loc>{self.site.url(f'/pages/{n}')}</loc></url>" for n in self.posts)
        sitemap = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        links = "".join(
            f'<a href="/tracker/status/{n}">post {n}</a> <a href="/tracker">me</a>'
            for n in reversed(self.posts)
        )
        timeline = f"<html><body>{links}</body></html>"
        self.site.routes.update(
            {
                self.feed: Route(feed.encode(), content_type="application/rss+xml"),
                self.channel: Route(channel.encode()),
                self.sitemap: Route(sitemap.encode(), content_type="application/xml"),
                self.timeline: Route(timeline.encode()),
            }
        )
