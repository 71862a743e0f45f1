"""Host holds (archivers/net/holds.py, streams/clients/holds.py): a host that
answered 429 is left alone until its Retry-After, by every fetcher and every
worker, and the captures that meet the hold are retried at its end without
spending an attempt."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from archivers.clock import iso, parse_iso, utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.net.holds import Hold, HoldSettings, HostHeld, HostHolds, retry_after
from archivers.net.politeness import PolitenessSettings
from streams.clients.holds import HoldsBoard
from streams.messages.base import VERSION, SourceMessage, Undecodable, dumps
from streams.messages.hosts import HOST_HOLD, HostHoldMessage, decode_host_hold
from streams.messages.seal import Seals
from tests.support.site import Route, TestSite
from tests.support.stages import KEYS, NAMES, SEALS, as_message, ingest, make_stage, submit

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_retry_after_reads_seconds_and_http_dates_and_refuses_junk():
    assert retry_after("120", NOW) == 120
    assert retry_after(" 7 ", NOW) == 7
    assert retry_after("Tue, 01 Dec 2026 12:01:30 GMT", NOW) == 90
    assert retry_after("Tue, 01 Dec 2026 11:00:00 GMT", NOW) == 0  # already past
    assert retry_after("soon", NOW) is None
    assert retry_after("-5", NOW) is None
    assert retry_after(None, NOW) is None


def test_a_429_holds_its_host_as_long_as_it_asks_and_a_hold_only_grows():
    holds = HostHolds(HoldSettings(default_seconds=30, max_seconds=600), clock=lambda: NOW)
    met: list[Hold] = []
    holds.subscribe(met.append)
    assert holds.note("X.com", 200, [("Retry-After", "60")]) is None
    assert holds.note("x.com", 503, []) is None  # an outage, not a request to wait
    hold = holds.note("x.com", 429, [("retry-after", "60")])
    assert hold is not None and hold.until == NOW + timedelta(seconds=60)
    assert "429 with Retry-After: 60" in hold.text()
    assert holds.note("x.com", 429, [("Retry-After", "5")]).until == NOW + timedelta(seconds=60)
    assert holds.note("x.com", 503, [("Retry-After", "86400")]).until == NOW + timedelta(
        seconds=600
    )  # bounded by max_seconds
    assert holds.note("y.com", 429, []).until == NOW + timedelta(seconds=30)  # the default
    assert [h.host for h in met] == ["x.com", "x.com", "y.com"]  # announced when it grew
    told = Hold("z.com", NOW + timedelta(seconds=10), "told")
    assert holds.hold(told, announce=False) and holds.current("z.com") == told
    assert len(met) == 3  # a hold told by another worker is not announced again
    assert holds.current("other.com") is None


def test_a_hold_ends_at_its_time():
    now = [NOW]
    holds = HostHolds(clock=lambda: now[0])
    holds.note("x.com", 429, [("Retry-After", "10")])
    now[0] = NOW + timedelta(seconds=9.9)
    assert holds.current("x.com") is not None
    now[0] = NOW + timedelta(seconds=10)
    assert holds.current("x.com") is None


def gated_site(site: TestSite, status: int = 429, retry: str = "2") -> list[float]:
    """The site answers /busy with ``status`` once, then 200; the arrival time of
    every request to it is kept."""
    arrivals: list[float] = []
    site.routes["/busy"] = Route(b"<p>post</p>")

    def gate(path: str, _cookie: str) -> Route | None:
        if path != "/busy":
            return None
        arrivals.append(time.time())
        if len(arrivals) == 1:
            return Route(b"slow down", status=status, headers=[("Retry-After", retry)])
        return None

    site.gate = gate
    return arrivals


def test_a_fetcher_sends_nothing_to_a_held_host_before_the_hold_ends(site):
    arrivals = gated_site(site, retry="2")
    fetcher = Fetcher(
        FetchSettings(allow=parse_allow_list(site.allow), holds=HoldSettings(wait_seconds=5))
    )

    async def twice():
        first = await fetcher.fetch(site.url("/busy"))
        second = await fetcher.fetch(site.url("/busy"))  # waits out the 2 s hold
        return first.status, second.status

    assert asyncio.run(twice()) == (429, 200)
    assert len(arrivals) == 2 and arrivals[1] >= arrivals[0] + 2


def test_a_long_hold_is_not_waited_the_request_is_not_sent(site):
    arrivals = gated_site(site, retry="3600")
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
    assert asyncio.run(fetcher.fetch(site.url("/busy"))).status == 429
    with pytest.raises(HostHeld) as held:
        asyncio.run(fetcher.fetch(site.url("/busy")))
    assert held.value.reason == "host_held" and held.value.retry_at > utc_now()
    assert "is on hold until" in str(held.value)
    assert len(arrivals) == 1


def test_a_held_capture_is_retried_at_the_holds_end_without_spending_attempts(site):
    arrivals = gated_site(site, retry="120")
    stage, producer, _store = make_stage(site, attempts=2)
    assert asyncio.run(stage.on_ingest(ingest(submit(site.url("/busy"))))) == "retry"
    holds = stage.archiver.fetcher.holds
    until = holds.current(site.host).until
    for _ in range(5):  # far more deferrals than the 2 attempts allowed
        retry = producer.on(NAMES.retry("capture"))[-1]
        assert asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry))) == "retry"
    retry = producer.on(NAMES.retry("capture"))[-1]
    assert retry["attempts"][0]["reason"] == "http_429"
    assert {a["reason"] for a in retry["attempts"][1:]} == {"host_held"}
    assert parse_iso(retry["not_before"]) == until  # due when the hold ends, not before
    assert len(arrivals) == 1  # nothing sent while the host was held
    holds.clock = lambda: utc_now() + timedelta(seconds=121)  # the hold is over
    assert asyncio.run(stage.on_retry(as_message(NAMES.retry("capture"), retry))) == "stored"
    assert len(arrivals) == 2


class Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key or b"", value))


def message(value: bytes) -> SourceMessage:
    return SourceMessage(NAMES.hosts, 0, 7, None, b"x.com", value, ())


def test_the_board_announces_what_it_met_and_takes_what_others_met():
    holds = HostHolds(HoldSettings(max_seconds=600))
    sent = Sent()
    board = HoldsBoard(holds, None, NAMES.hosts, SEALS, sent, reader=lambda: Blocked(), who="w1")

    async def meet_one():
        task = asyncio.create_task(board.run())
        while board._queue is None:
            await asyncio.sleep(0)
        holds.note("x.com", 429, [("Retry-After", "60")])
        while not sent.messages:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(meet_one())
    [(topic, key, value)] = sent.messages
    assert topic == NAMES.hosts and key == b"x.com"
    assert SEALS.open(NAMES.hosts, value).role == "worker"
    assert decode_host_hold(value).by == "w1"
    assert not board.take(message(value))  # our own: no echo

    other = HostHolds()
    theirs = HoldsBoard(other, None, NAMES.hosts, SEALS, Sent(), who="w2")
    assert theirs.take(message(value))
    assert other.current("x.com").until == holds.current("x.com").until
    assert "met by w1" in other.current("x.com").reason


def test_the_board_ignores_unsealed_and_wrong_role_holds_and_bounds_long_ones():
    holds = HostHolds(HoldSettings(max_seconds=600))
    board = HoldsBoard(holds, None, NAMES.hosts, SEALS, Sent(), who="w2")
    forever = HostHoldMessage("x.com", utc_now() + timedelta(days=365), "429", "w1").to_json()
    assert not board.take(message(forever))  # no seal
    assert not board.take(message(Seals(KEYS, "operator").seal(NAMES.hosts, forever)))
    assert holds.current("x.com") is None
    assert board.take(message(SEALS.seal(NAMES.hosts, forever)))
    assert holds.current("x.com").until <= utc_now() + timedelta(seconds=600)


@pytest.mark.parametrize("host", ["", "X.COM", "a b", "x" * 254, 5, None])
def test_a_hold_message_names_a_host(host):
    doc = {"schema": HOST_HOLD, "version": VERSION, "host": host, "until": iso(NOW)}
    with pytest.raises(Undecodable, match="host"):
        decode_host_hold(dumps(doc))


def test_a_hold_message_with_a_bad_time_is_refused():
    doc = {"schema": HOST_HOLD, "version": VERSION, "host": "x.com", "until": 5}
    with pytest.raises(Undecodable, match="malformed"):
        decode_host_hold(dumps(doc))


class Blocked:
    """A reader that never yields a message (the board's follower in unit tests)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def poll(self, timeout):
        threading.Event().wait(timeout)
        return iter(())


def test_requests_queued_behind_the_429_are_not_sent_and_the_hold_is_announced_once(site):
    """Six requests for one host with one connection slot: the first answer is a
    429, and the five queued behind it find the host on hold when their turn comes."""
    arrivals = gated_site(site, retry="3600")
    fetcher = Fetcher(
        FetchSettings(allow=parse_allow_list(site.allow), politeness=PolitenessSettings(per_host=1))
    )
    met: list[Hold] = []
    fetcher.holds.subscribe(met.append)

    async def six():
        return await asyncio.gather(
            *(fetcher.fetch(site.url("/busy")) for _ in range(6)), return_exceptions=True
        )

    answers = asyncio.run(six())
    assert len(arrivals) == 1
    assert sorted(type(a).__name__ for a in answers) == ["Exchange"] + ["HostHeld"] * 5
    assert len(met) == 1


@pytest.mark.parametrize(
    "value", ["999999999999", "\u00b2", "99999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"]
)
def test_a_hostile_retry_after_is_bounded_and_never_raises(value):
    holds = HostHolds(HoldSettings(max_seconds=600), clock=lambda: NOW)
    hold = holds.note("x.com", 429, [("Retry-After", value)])
    assert hold is not None and NOW < hold.until <= NOW + timedelta(seconds=600)


def test_a_told_hold_whose_time_no_clock_holds_is_ignored():
    board = HoldsBoard(HostHolds(), None, NAMES.hosts, SEALS, Sent(), who="w2")
    doc = {
        "schema": HOST_HOLD,
        "version": VERSION,
        "host": "x.com",
        "until": "0001-01-01T00:00:00+01:00",
        "reason": "429",
        "by": "w1",
    }
    assert not board.take(message(SEALS.seal(NAMES.hosts, dumps(doc))))


def test_requisites_of_a_held_host_are_listed_missing_and_the_capture_is_partial(site):
    """The page is stored; what its host would not serve now is named, not waited for."""
    from archivers.capture.archiver import PageArchiver
    from archivers.store.memory import MemoryStore
    from tests.support.pages import AGENT, request_for

    def gate(path: str, _cookie: str) -> Route | None:
        if path == "/static/site.css":
            return Route(b"slow down", status=429, headers=[("Retry-After", "3600")])
        return None

    site.gate = gate
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow), requisite_concurrency=1))
    store = MemoryStore()
    archiver = PageArchiver(fetcher, store, agent=AGENT)
    manifest = asyncio.run(archiver.capture(request_for(site.url("/post/1")))).manifest
    assert manifest.status == "stored" and manifest.outcome == "partial"
    assert manifest.missing == ["2 page requisite(s) could not be fetched"]
    # the capture's metadata record says why: the host is on hold, and until when
    metadata = gzip.decompress(store.get_bytes(manifest.warc_key))
    assert metadata.count(b"host_held") == 2 and b"is on hold until" in metadata
    assert site.count("/static/photo.png") == 0  # not sent while the host is held
