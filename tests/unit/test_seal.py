"""Seals on internal messages (streams.messages.seal) and what binds a retry or
media request to the work its origin started (security review F2)."""

from __future__ import annotations

import asyncio
import json

import pytest

from archivers.clock import from_epoch_ms, iso, utc_now
from archivers.store import layout
from streams.messages.base import Undecodable
from streams.messages.capture import (
    RetryRequest,
    SubmitRequest,
    check_capture_retry,
    check_media_request,
)
from streams.messages.seal import (
    REASONS,
    MacKey,
    Seals,
    new_key,
    parse_key,
    parse_keys,
)
from tests.support.stages import KEYS, NAMES, SEALS, as_message, make_stage, sealed
from warcflow import credentials

RETRY_TOPIC = NAMES.retry("capture")
NOW_MS = 1795603393000
ORIGIN = {
    "topic": NAMES.ingest,
    "partition": 2,
    "offset": 41,
    "timestamp": iso(from_epoch_ms(NOW_MS)),
}
VICTIM = layout.capture_id(NAMES.ingest, 2, 41, NOW_MS)


def retry_doc(url="https://example.org/post/1", work_id=VICTIM, origin=ORIGIN) -> dict:
    request = SubmitRequest.new(url, submitted_at=utc_now())
    retry = RetryRequest("capture", work_id, request.to_dict(), dict(origin), 2, utc_now())
    return json.loads(retry.to_json())


def custody_doc(event="fixity") -> dict:
    return {
        "schema": "warcflow.CustodyEvent",
        "version": 1,
        "event": event,
        "event_id": f"{event}:{VICTIM}:x",
        "at": iso(utc_now()),
        "who": "someone",
        "capture_id": VICTIM,
        "url": "https://example.org/post/1",
        "objects": [],
        "detail": {"ok": False},
    }


def reason(seals: Seals, topic: str, value: bytes) -> str:
    with pytest.raises(Undecodable) as refused:
        seals.open(topic, value)
    return refused.value.reason


def test_a_sealed_message_opens_as_made_and_names_its_maker():
    value = sealed(RETRY_TOPIC, json.dumps(retry_doc()).encode())
    doc = json.loads(value)
    assert doc["seal"]["alg"] == "HMAC-SHA256" and doc["seal"]["kid"] == KEYS[0].kid
    assert doc["work_id"] == VICTIM  # still plain JSON for any Kafka tool
    opened = SEALS.open(RETRY_TOPIC, value)
    assert opened.role == "worker" and opened.kid == KEYS[0].kid
    assert "seal" not in opened.doc and opened.doc["work_id"] == VICTIM


def test_what_is_not_sealed_by_its_maker_is_refused_with_a_reason():
    genuine = json.loads(sealed(RETRY_TOPIC, json.dumps(retry_doc()).encode()))
    unsealed = json.dumps(retry_doc()).encode()
    assert reason(SEALS, RETRY_TOPIC, unsealed) == "unsealed"

    altered = {**genuine, "work_id": layout.capture_id(NAMES.ingest, 0, 1, NOW_MS)}
    assert reason(SEALS, RETRY_TOPIC, json.dumps(altered).encode()) == "forged"
    # the same bytes replayed onto another internal topic
    assert reason(SEALS, NAMES.retry("media"), json.dumps(genuine).encode()) == "forged"
    # a duplicated key: json takes the last value, so the checked object is not the sealed one
    doubled = json.dumps(genuine)[:-1] + ', "payload": {"url": "https://decoy.example/"}}'
    assert reason(SEALS, RETRY_TOPIC, doubled.encode()) == "forged"
    # a MAC by a key nobody gave this worker, under the worker's key id
    mallory = Seals((MacKey("worker", b"m" * 32),), "worker")
    stolen_kid = json.loads(mallory.seal(RETRY_TOPIC, unsealed))
    stolen_kid["seal"]["kid"] = KEYS[0].kid
    assert reason(SEALS, RETRY_TOPIC, json.dumps(stolen_kid).encode()) == "forged"
    assert reason(SEALS, RETRY_TOPIC, mallory.seal(RETRY_TOPIC, unsealed)) == "unknown_key"
    for bad in ("x", {"alg": "none", "kid": KEYS[0].kid, "mac": ""}, {"kid": 1, "mac": 2}):
        shaped = json.dumps({**genuine, "seal": bad}).encode()
        assert reason(SEALS, RETRY_TOPIC, shaped) == "bad_seal"
    assert {"unsealed", "forged", "unknown_key", "bad_seal"} <= REASONS


def test_each_role_may_make_only_its_own_kinds_of_message():
    custody = NAMES.custody
    for event, role in (("download", "viewer"), ("export", "operator"), ("capture", "worker")):
        value = sealed(custody, json.dumps(custody_doc(event)).encode(), role)
        assert SEALS.open(custody, value).role == role
    # a leaked viewer key cannot write a fixity mismatch or a capture into the ledger
    for event in ("fixity", "capture", "media", "recheck", "export"):
        forged = sealed(custody, json.dumps(custody_doc(event)).encode(), "viewer")
        assert reason(SEALS, custody, forged) == "wrong_role", event
    # nor can the operator's continue a capture, or a retry be made by anyone but the worker
    retry = sealed(RETRY_TOPIC, json.dumps(retry_doc()).encode(), "operator")
    assert reason(SEALS, RETRY_TOPIC, retry) == "wrong_role"
    unknown = sealed(custody, json.dumps({"schema": "warcflow.Nothing", "version": 1}).encode())
    assert reason(SEALS, custody, unknown) == "unknown_schema"


def test_a_rotation_keeps_the_previous_key_for_opening_only():
    old = KEYS[0]
    new = new_key("worker")
    rotated = Seals((new, old, *KEYS[1:]), "worker")
    before = sealed(RETRY_TOPIC, json.dumps(retry_doc()).encode())  # sealed with the old key
    assert rotated.open(RETRY_TOPIC, before).kid == old.kid
    after = rotated.seal(RETRY_TOPIC, json.dumps(retry_doc()).encode())
    assert json.loads(after)["seal"]["kid"] == new.kid != old.kid
    assert reason(SEALS, RETRY_TOPIC, after) == "unknown_key"  # a worker not yet restarted


def test_keys_are_parsed_strictly_and_never_shown():
    key = parse_key(KEYS[1].text())
    assert key == KEYS[1] and key.kid.startswith("operator.") and len(key.kid) == 25
    assert KEYS[1].secret.hex() not in repr(key) and KEYS[1].secret.hex() not in key.kid
    assert parse_keys(f"{KEYS[0].text()}, {KEYS[2].text()}") == (KEYS[0], KEYS[2])
    assert parse_keys("") == ()
    for bad in ("admin:" + "00" * 32, "worker:abc", "worker:" + "zz" * 32, "worker"):
        with pytest.raises(ValueError) as refused:
            parse_key(bad)
        assert "zz" * 32 not in str(refused.value)
    with pytest.raises(ValueError, match="no MAC key of role viewer"):
        Seals((KEYS[0],), "viewer").seal(NAMES.custody, b'{"schema":"x"}')


def test_the_credentials_file_keeps_two_mac_keys_per_role_and_hands_out_the_right_ones(tmp_path):
    path = tmp_path / "credentials.json"
    made, fresh = credentials.ensure(path)
    assert fresh and path.stat().st_mode & 0o777 == 0o600
    assert set(made.mac) == {"worker", "operator", "viewer"}
    once = made.rotated("viewer")
    twice = once.rotated("viewer")
    assert len(once.mac["viewer"]) == 2 and once.mac["viewer"][1] == made.mac["viewer"][0]
    assert twice.mac["viewer"][1] == once.mac["viewer"][0] and len(twice.mac["viewer"]) == 2
    assert twice.mac["worker"] == made.mac["worker"]
    credentials.save(path, twice)
    again = credentials.load(path)
    assert again is not None and again.mac == twice.mac
    # the worker opens everything; the viewer holds only its own key
    assert {k.role for k in again.mac_keys("worker")} == {"worker", "operator", "viewer"}
    assert again.mac_keys("viewer") == twice.mac["viewer"]
    assert again.mac_keys("submitter") == ()


def test_a_capture_retry_is_bound_to_the_ingest_message_that_started_it():
    check_capture_retry(decode(retry_doc()), NAMES.ingest)
    elsewhere = {**ORIGIN, "offset": 42}
    for doc, said in (
        (retry_doc(origin=elsewhere), "is not the one its origin"),
        (retry_doc(origin={**ORIGIN, "topic": NAMES.media}), "not on wf.ingest"),
        (retry_doc(origin={"topic": NAMES.ingest}), "not bound"),
        (retry_doc(work_id="01KZZZZZZZZZZZZZZZZZZZZZZZ"), "is not the one its origin"),
    ):
        with pytest.raises(Undecodable, match=said) as refused:
            check_capture_retry(decode(doc), NAMES.ingest)
        assert refused.value.reason == "unbound"


def test_a_media_request_is_bound_to_its_page_and_url():
    from archivers.media.archiver import MediaRequest

    url = "https://example.org/v.mp4"
    good = MediaRequest(
        layout.media_id(VICTIM, url), VICTIM, "https://example.org/p", url, "direct", "x", utc_now()
    )
    check_media_request(good)
    check_media_request(good, good.media_id)
    decoy = MediaRequest(
        good.media_id, VICTIM, good.page_url, "https://evil.example/v.mp4", "direct", "x", utc_now()
    )
    for request, work_id in ((decoy, None), (good, VICTIM)):
        with pytest.raises(Undecodable) as refused:
            check_media_request(request, work_id)
        assert refused.value.reason == "unbound"


def test_the_capture_stage_dead_letters_forged_and_unbound_retries_and_stores_nothing(site):
    """F2.1 in one stage: a retry naming a victim's capture id with a decoy URL."""
    stage, producer, store = make_stage(site)
    decoy = site.url("/post/1?decoy")
    retry_topic = RETRY_TOPIC
    unbound = retry_doc(decoy, origin={**ORIGIN, "offset": 99})
    cases = [
        (as_message(retry_topic, retry_doc(decoy), role=None), "unsealed"),
        (as_message(retry_topic, retry_doc(decoy), role="viewer"), "wrong_role"),
        (as_message(retry_topic, unbound), "unbound"),
    ]
    for message, _ in cases:
        assert asyncio.run(stage.on_retry(message)) == "dead-letter"
    assert [d["reason"] for d in producer.on(NAMES.dead_letter)] == [r for _, r in cases]
    assert store.objects == {} and producer.on(NAMES.captures) == []
    # the genuine retry, sealed by the worker and bound to its origin, is captured
    assert asyncio.run(stage.on_retry(as_message(retry_topic, retry_doc(decoy)))) == "stored"
    [event] = producer.on(NAMES.captures)
    assert event["capture_id"] == VICTIM and event["seal"]["kid"] == KEYS[0].kid


def decode(doc: dict) -> RetryRequest:
    from streams.messages.capture import decode_retry

    return decode_retry(as_message(RETRY_TOPIC, doc))


def test_openssl_computes_the_same_mac_from_the_documented_recipe(tmp_path):
    """docs/formats.md, "Seals": the MAC is checkable without warcflow."""
    import subprocess

    value = sealed(NAMES.custody, json.dumps(custody_doc("download")).encode(), "viewer")
    doc = json.loads(value)
    seal = doc.pop("seal")

    def ns(b: bytes) -> bytes:
        return str(len(b)).encode() + b":" + b + b","

    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    data = ns(b"warcflow-seal/1") + ns(seal["kid"].encode()) + ns(NAMES.custody.encode())
    (tmp_path / "sealed.bin").write_bytes(data + ns(canonical.encode()))
    key = f"hexkey:{KEYS[2].secret.hex()}"
    done = subprocess.run(
        [
            "openssl",
            "dgst",
            "-sha256",
            "-mac",
            "HMAC",
            "-macopt",
            key,
            str(tmp_path / "sealed.bin"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip().split()[-1] == seal["mac"]


def test_the_worker_and_the_viewer_refuse_to_start_without_a_key_of_their_own(
    tmp_path, monkeypatch, capsys
):
    from warcflow.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("WARCFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WARCFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("WARCFLOW_MAC_KEYS", KEYS[1].text())  # the operator's only
    for command in ("worker", "viewer"):
        assert main([command]) == 2, command
        said = capsys.readouterr().err
        assert "MAC key" in said and "WARCFLOW_MAC_KEYS" in said, said
        assert KEYS[1].secret.hex() not in said


def test_a_media_request_given_up_on_is_replayable_with_its_seal(site):
    """The media dead letter after the last retry keeps the worker's sealed
    request: `warcflow dlq replay` resends it as it came, and it opens."""
    import base64

    from tests.support.site import Route
    from tests.support.stages import make_media_stage

    url = site.url("/media/busy.mp4")
    site.routes["/media/busy.mp4"] = Route(b"x", status=503, content_type="video/mp4")
    stage, producer, _store = make_media_stage(site, attempts=2)
    doc = {
        "schema": "warcflow.MediaRequest",
        "version": 1,
        "media_id": layout.media_id(VICTIM, url),
        "parent_capture_id": VICTIM,
        "page_url": site.url("/post/1"),
        "media_url": url,
        "kind": "direct",
        "found_by": "og:video",
        "submitted_at": iso(utc_now()),
    }
    outcome = asyncio.run(stage.on_media(as_message(NAMES.media, doc)))
    while outcome == "retry":
        again = producer.on(NAMES.retry("media"))[-1]
        outcome = asyncio.run(stage.on_retry(as_message(NAMES.retry("media"), again)))
    assert outcome == "failed"
    [letter] = producer.on(NAMES.dead_letter)
    assert (
        letter["reason"].startswith("retries_exhausted")
        and letter["source"]["topic"] == NAMES.media
    )
    replayed = base64.b64decode(letter["value_b64"])
    assert SEALS.open(NAMES.media, replayed).doc["media_id"] == doc["media_id"]


def test_a_worker_missing_another_roles_key_says_what_will_be_dead_lettered(
    tmp_path, monkeypatch, capsys
):
    """Review: a worker given only its own key started silently, then dead-lettered
    every export, note and download as unknown_key."""
    from warcflow.cli import main

    for name in [n for n in __import__("os").environ if n.startswith("WARCFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WARCFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("WARCFLOW_MAC_KEYS", KEYS[0].text())  # the worker's only
    from warcflow import wiring

    monkeypatch.setattr(wiring, "not_ready", lambda settings: ["no broker here (test)"])
    assert main(["worker"]) == 3  # then it stops where the broker is checked
    said = capsys.readouterr().err
    for role in ("operator", "viewer"):
        assert f"no MAC key of the {role} role" in said and "unknown_key" in said, said
    assert KEYS[0].secret.hex() not in said
