"""Watch definitions, the book of seen items, and the runner's poll → submit → mark
logic, with an in-memory producer and a fake source (no Kafka, no network)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from archivers.errors import FetchUnavailable
from streams.metrics import Metrics
from streams.topics import TopicNames
from streams.watchers.book import WatchBook
from streams.watchers.definitions import (
    InvalidWatch,
    decode_watch,
    new_watch,
    seen_key,
    seen_record,
    watches_from_setting,
)
from streams.watchers.runner import WatchRunner, backoff
from streams.watchers.settings import WatchSettings

NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
NAMES = TopicNames("t")

RSS = """<rss version="2.0"><channel>{}</channel></rss>"""


def rss(*paths: str) -> bytes:
    return RSS.format(
        "".join(f"<item><link>https://src.example{p}</link></item>" for p in paths)
    ).encode()


def test_a_watch_id_is_stable_for_its_source_and_the_record_round_trips():
    a = new_watch("feed", "https://src.example/feed", every=60, tags=("kazan",), added_at=NOW)
    b = new_watch("feed", "https://src.example/feed", every=300)
    assert a.id == b.id and a.id.startswith("w") and len(a.id) == 13
    assert new_watch("sitemap", "https://src.example/feed", every=60).id != a.id
    assert decode_watch(a.to_json()) == a
    assert a.source == f"watch:{a.id}"


@pytest.mark.parametrize(
    "kind, url, kwargs, words",
    [
        ("rss", "https://x.example/", {}, "unknown kind"),
        ("feed", "ftp://x.example/", {}, "URL"),
        ("feed", "https://x.example/", {"every": 0}, "greater than 0"),
        ("feed", "https://x.example/", {"every": 5, "min_every": 60}, "least allowed is 60"),
        ("links", "https://x.example/", {}, "needs a pattern"),
        ("links", "https://x.example/", {"pattern": "(unclosed"}, "not a regular expression"),
        ("feed", "https://x.example/", {"pattern": "x"}, "only links"),
        ("feed", "https://x.example/", {"tags": ("",)}, "tags"),
    ],
)
def test_invalid_watches_say_why(kind, url, kwargs, words):
    kwargs.setdefault("every", 60)
    with pytest.raises(InvalidWatch) as caught:
        new_watch(kind, url, **kwargs)
    assert words in str(caught.value)


def test_telegram_watches_poll_the_channel_preview():
    watch = new_watch("telegram", "https://t.me/wartracker", every=60)
    assert watch.url == "https://t.me/s/wartracker"


def test_watches_from_the_setting():
    text = json.dumps(
        [
            {"kind": "feed", "url": "https://src.example/feed", "tags": ["a"]},
            {"kind": "links", "url": "https://src.example/", "pattern": "/status/", "every": 120},
        ]
    )
    feed, links = watches_from_setting(text, min_every=60)
    assert (feed.every, feed.tags, feed.origin) == (300.0, ("a",), "settings")
    assert links.pattern == "/status/" and links.every == 120
    assert watches_from_setting("  ") == ()
    with pytest.raises(InvalidWatch, match="watch 2"):
        watches_from_setting(
            json.dumps(
                [{"kind": "feed", "url": "https://a.example/"}, {"kind": "feed", "url": "nope"}]
            )
        )
    with pytest.raises(InvalidWatch, match="JSON"):
        watches_from_setting("feed https://a.example/")


def test_the_book_replays_the_topics():
    feed = new_watch("feed", "https://src.example/feed", every=60)
    configured = new_watch(
        "sitemap", "https://src.example/sitemap.xml", every=60, origin="settings"
    )
    book = WatchBook((configured,))
    book.apply_watch(feed.id.encode(), feed.to_json())
    book.apply_watch(b"junk", b"{not json")  # ignored, logged
    stray = new_watch("feed", "https://elsewhere.example/feed", every=60)
    book.apply_watch(b"other-key", stray.to_json())  # a key no tombstone of it would match
    assert {w.id for w in book.watches()} == {feed.id, configured.id}
    book.apply_watch(feed.id.encode(), None)  # tombstone
    book.apply_watch(configured.id.encode(), None)  # settings watches stay
    assert [w.id for w in book.watches()] == [configured.id]

    from streams.watchers.items import Item

    items = [Item("https://src.example/1"), Item("https://src.example/2")]
    book.apply_seen(
        seen_key(configured.id, "https://src.example/1"),
        seen_record(configured.id, "https://src.example/1", request_id="r", submitted_at=NOW),
    )
    assert book.new_items(configured.id, items) == items[1:]
    assert book.new_items(feed.id, items) == items  # seen state is per watch
    book.apply_seen(seen_key(configured.id, "https://src.example/1"), None)
    assert book.new_items(configured.id, items) == items


class Broker:
    """An in-memory producer: what was sent, per topic; can be made to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail_after: int | None = None

    async def send(self, topic, key, value):
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise ConnectionError("broker gone")
        self.sent.append((topic, key, value))

    def submitted(self) -> list[dict]:
        return [json.loads(v) for t, _, v in self.sent if t == NAMES.ingest]


class Source:
    def __init__(self) -> None:
        self.bodies: dict[str, bytes | Exception] = {}
        self.fetches = 0

    async def fetch(self, url):
        self.fetches += 1
        found = self.bodies[url]
        if isinstance(found, Exception):
            raise found
        return found


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def runner_for(book, source, broker, clock, **settings):
    async def refresh(book):
        return None

    return WatchRunner(
        book,
        refresh,
        source.fetch,
        broker,
        NAMES,
        WatchSettings(**settings),
        metrics=Metrics(),
        clock=lambda: NOW,
        monotonic=clock,
    )


def run(coro):
    return asyncio.run(coro)


def test_new_items_are_submitted_once_with_source_and_tags_then_marked_seen():
    watch = new_watch("feed", "https://src.example/feed", every=60, tags=("kazan",))
    book, source, broker, clock = WatchBook((watch,)), Source(), Broker(), Clock()
    runner = runner_for(book, source, broker, clock)
    source.bodies[watch.url] = rss("/1", "/2")
    assert run(runner.tick()) == [watch.id]  # first poll: what is there now
    first = broker.submitted()
    assert [d["url"] for d in first] == ["https://src.example/1", "https://src.example/2"]
    assert all(d["source"] == f"watch:{watch.id}" and d["tags"] == ["kazan"] for d in first)
    seen = [(k, json.loads(v)) for t, k, v in broker.sent if t == NAMES.watch_seen]
    assert [k for k, _ in seen] == [
        seen_key(watch.id, "https://src.example/1"),
        seen_key(watch.id, "https://src.example/2"),
    ]
    assert seen[0][1]["request_id"] == first[0]["request_id"]
    # each item's request goes before its seen record: never marked without being submitted
    topics = [t for t, _, _ in broker.sent]
    assert topics == [NAMES.ingest, NAMES.watch_seen] * 2

    assert run(runner.tick()) == []  # not due before its period
    clock.now += 60
    source.bodies[watch.url] = rss("/3", "/2", "/1")
    assert run(runner.tick()) == [watch.id]
    assert [d["url"] for d in broker.submitted()] == [
        "https://src.example/1",
        "https://src.example/2",
        "https://src.example/3",
    ]


def test_a_restarted_runner_with_the_replayed_seen_state_resubmits_nothing():
    watch = new_watch("feed", "https://src.example/feed", every=60)
    source, broker, clock = Source(), Broker(), Clock()
    source.bodies[watch.url] = rss("/1", "/2")
    run(runner_for(WatchBook((watch,)), source, broker, clock).tick())
    book = WatchBook((watch,))  # a new worker: its book rebuilt from the topic
    for topic, key, value in broker.sent:
        if topic == NAMES.watch_seen:
            book.apply_seen(key, value)
    source.bodies[watch.url] = rss("/1", "/2", "/4")
    later = Broker()
    run(runner_for(book, source, later, clock).tick())
    assert [d["url"] for d in later.submitted()] == ["https://src.example/4"]


def test_media_of_an_item_are_submitted_with_a_note():
    watch = new_watch("telegram", "http://tg.example/s/chan", every=60)
    source, broker, clock = Source(), Broker(), Clock()
    source.bodies[watch.url] = (
        b'<div class="tgme_widget_message" data-post="chan/7">'
        b'<video src="https://cdn.example/7.mp4"></video></div>'
    )
    run(runner_for(WatchBook((watch,)), source, broker, clock).tick())
    docs = broker.submitted()
    assert [(d["url"], d["note"]) for d in docs] == [
        ("http://tg.example/chan/7", None),
        ("https://cdn.example/7.mp4", "media of http://tg.example/chan/7"),
    ]


def test_failed_polls_back_off_and_are_counted_and_the_next_success_resets():
    watch = new_watch("feed", "https://src.example/feed", every=10)
    book, source, broker, clock = WatchBook((watch,)), Source(), Broker(), Clock()
    runner = runner_for(book, source, broker, clock, max_backoff=35)
    source.bodies[watch.url] = FetchUnavailable("down", reason="http_503")
    run(runner.tick())
    clock.now += 10
    run(runner.tick())  # second failure: next try after 20 s
    clock.now += 19
    assert run(runner.tick()) == []
    clock.now += 1
    source.bodies[watch.url] = b"<html>not a feed"
    assert run(runner.tick()) == [watch.id]  # third failure: 35 s (the cap), not 40
    clock.now += 34
    assert run(runner.tick()) == []
    clock.now += 1
    source.bodies[watch.url] = rss("/1")
    run(runner.tick())
    assert [d["url"] for d in broker.submitted()] == ["https://src.example/1"]
    clock.now += 10
    assert run(runner.tick()) == [watch.id]  # back to its period
    registry = runner.metrics.registry
    assert (
        registry.get_sample_value(
            "warcflow_watch_failures_total", {"kind": "feed", "reason": "http_503"}
        )
        == 2
    )
    assert (
        registry.get_sample_value(
            "warcflow_watch_failures_total", {"kind": "feed", "reason": "not_xml"}
        )
        == 1
    )
    assert (
        registry.get_sample_value("warcflow_watch_polls_total", {"kind": "feed", "outcome": "ok"})
        == 2
    )
    assert registry.get_sample_value("warcflow_watch_submitted_total", {"kind": "feed"}) == 1


def test_backoff_doubles_up_to_the_cap_but_never_below_the_period():
    assert [backoff(10, n, 60) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]
    assert backoff(600, 3, 60) == 600


def test_a_broker_failure_leaves_unsubmitted_items_for_the_next_poll():
    watch = new_watch("feed", "https://src.example/feed", every=10)
    book, source, broker, clock = WatchBook((watch,)), Source(), Broker(), Clock()
    runner = runner_for(book, source, broker, clock)
    source.bodies[watch.url] = rss("/1", "/2")
    broker.fail_after = 2  # item 1 submitted and marked; then the broker goes
    run(runner.tick())
    broker.fail_after = None
    clock.now += 10
    run(runner.tick())
    assert [d["url"] for d in broker.submitted()] == [
        "https://src.example/1",
        "https://src.example/2",
    ]


def test_at_most_max_items_a_poll_the_rest_next_time():
    watch = new_watch("sitemap", "https://src.example/sitemap.xml", every=10)
    book, source, broker, clock = WatchBook((watch,)), Source(), Broker(), Clock()
    runner = runner_for(book, source, broker, clock, max_items=2)
    source.bodies[watch.url] = (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<url><loc>https://src.example/{i}</loc></url>" for i in range(3))
        + "</urlset>"
    ).encode()
    run(runner.tick())
    assert len(broker.submitted()) == 2
    clock.now += 10
    run(runner.tick())
    assert [d["url"] for d in broker.submitted()][-1] == "https://src.example/2"


def test_a_sitemap_index_is_followed_one_level():
    watch = new_watch("sitemap", "https://src.example/sitemap.xml", every=10)
    book, source, broker, clock = WatchBook((watch,)), Source(), Broker(), Clock()
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    source.bodies[watch.url] = (
        f"<sitemapindex {ns}><sitemap><loc>/a.xml</loc></sitemap></sitemapindex>"
    ).encode()
    source.bodies["https://src.example/a.xml"] = (
        f"<urlset {ns}><url><loc>https://src.example/p</loc></url></urlset>"
    ).encode()
    run(runner_for(book, source, broker, clock).tick())
    assert [d["url"] for d in broker.submitted()] == ["https://src.example/p"]


def test_unreadable_watch_state_means_no_polling():
    watch = new_watch("feed", "https://src.example/feed", every=10)
    source, broker = Source(), Broker()

    async def refresh(book):
        raise ConnectionError("no broker")

    runner = WatchRunner(
        WatchBook((watch,)),
        refresh,
        source.fetch,
        broker,
        NAMES,
        WatchSettings(),
        metrics=Metrics(),
    )
    assert run(runner.tick()) == [] and source.fetches == 0


def test_a_slow_source_holds_up_neither_the_timer_nor_itself_twice():
    slow = new_watch("feed", "https://slow.example/feed", every=1)
    quick = new_watch("feed", "https://src.example/feed", every=1)
    source, broker, clock = Source(), Broker(), Clock()
    source.bodies[quick.url] = rss("/1")
    release = None

    async def fetch(url):
        if url == slow.url:
            await release.wait()
            return rss("/slow")
        return await source.fetch(url)

    async def scenario():
        nonlocal release
        release = asyncio.Event()

        async def refresh(book):
            return None

        runner = WatchRunner(
            WatchBook((slow, quick)),
            refresh,
            fetch,
            broker,
            NAMES,
            WatchSettings(),
            clock=lambda: NOW,
            monotonic=clock,
        )
        assert sorted(await runner.tick(wait=False)) == sorted([slow.id, quick.id])
        await runner._running[quick.id]  # the quick poll ends; the slow one hangs on
        clock.now += 5
        assert await runner.tick(wait=False) == [quick.id]  # the slow one is still running
        release.set()
        await asyncio.gather(*runner._running.values())
        return [d["url"] for d in broker.submitted()]

    urls = run(scenario())
    assert urls.count("https://src.example/1") == 1 and "https://src.example/slow" in urls


def test_a_watch_written_to_the_topic_is_held_to_the_minimum_period():
    # review F11: a Watch record with every=1 (kcat, any producer) was polled at
    # the 1 s tick; the CLI's WARCFLOW_WATCH_MIN_EVERY now holds for it too
    hasty = new_watch("feed", "https://src.example/feed", every=1)
    book = WatchBook(min_every=60)
    book.apply_watch(hasty.id.encode(), hasty.to_json())
    assert [w.every for w in book.watches()] == [60]
    source, broker, clock = Source(), Broker(), Clock()
    source.bodies[hasty.url] = rss("/1")
    runner = runner_for(book, source, broker, clock, min_every=60)
    polls = 0
    for _second in range(120):  # two minutes of one-second ticks
        polls += len(run(runner.tick()))
        clock.now += 1
    assert polls == 2 and source.fetches == 2
