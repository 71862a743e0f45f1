"""Liveness classification and the state's dates: what `warcflow liveness` reports."""

import random
from datetime import UTC, datetime

from archivers.custody.liveness import LivenessState, Observation, Schedule, classify_response


def test_classification():
    assert classify_response(404, "", "d1", "d0") == ("gone", "http_404")
    assert classify_response(410, "", "d1", None)[0] == "gone"
    state, reason = classify_response(200, "<h1>This video is unavailable</h1>", "d1", "d0")
    assert state == "gone" and "unavailable" in reason
    assert (
        classify_response(200, "<p>Sorry, this page isn't available.</p>", "d", None)[0] == "gone"
    )
    assert classify_response(200, "a post", "d1", "d0") == ("changed", "payload digest differs")
    assert classify_response(200, "a post", "d0", "d0") == ("alive", "same payload")
    assert classify_response(503, "", "d", "d")[0] == "unknown"
    assert classify_response(429, "", "d", "d")[0] == "unknown"


def test_dates_move_only_on_what_they_mean():
    state = LivenessState("https://example.org/p", baseline_digest="d0")
    state.record(Observation("2026-11-25T10:00:00.000000Z", "alive", 200, digest="d0"))
    state.record(Observation("2026-11-25T11:00:00.000000Z", "unknown", 503))
    assert state.state == "alive" and state.last_seen_alive == "2026-11-25T10:00:00.000000Z"
    state.record(Observation("2026-11-25T12:00:00.000000Z", "gone", 404))
    state.record(Observation("2026-11-25T13:00:00.000000Z", "gone", 404))
    assert state.first_seen_gone == "2026-11-25T12:00:00.000000Z"  # the first, not the last
    assert state.last_seen_alive == "2026-11-25T10:00:00.000000Z"
    assert state.checks == 4 and len(state.history) == 4
    state.record(Observation("2026-11-25T14:00:00.000000Z", "changed", 200, digest="d2"))
    assert state.first_seen_gone is None and state.baseline_digest == "d2"  # it came back
    assert LivenessState.from_json(state.to_json()) == state


def test_schedule_backs_off_with_jitter():
    now = datetime(2026, 11, 25, tzinfo=UTC)
    schedule = Schedule((60.0, 3600.0), jitter=0.1)
    rng = random.Random(1)
    first = (schedule.next(0, now, rng) - now).total_seconds()
    later = (schedule.next(7, now, rng) - now).total_seconds()
    assert 54 <= first <= 66 and 3240 <= later <= 3960


def test_a_platform_extractor_saying_removed_makes_it_gone():
    from archivers.custody.liveness import combine
    from archivers.media.ytdlp import extractor_verdict

    page = Observation(
        "2026-11-25T10:00:00.000000Z", "alive", 200, digest="d0", reason="same payload"
    )
    # messages as yt-dlp's extractors raise them
    for message in (
        "ERROR: [youtube] dQw4w9WgXcQ: Video unavailable. This video has been "
        "removed by the uploader",
        "ERROR: [youtube] abc: Private video. Sign in if you've been granted access",
        "ERROR: [twitter] 123: This tweet is unavailable",
        "ERROR: [TikTok] 7: This post is no longer available",
    ):
        gone = combine(page, extractor_verdict(message))
        assert gone.state == "gone" and gone.reason.startswith("yt-dlp: "), message
        assert gone.http_status == 200  # the page itself still answered
    assert combine(page, extractor_verdict(None)) == page  # it found the video
    assert combine(page, extractor_verdict("ERROR: Unable to download webpage: timed out")) == page
    assert extractor_verdict("HTTP Error 429: Too Many Requests") is None
