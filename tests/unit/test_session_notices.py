"""Telling the operator that a session expired or was challenged (issue 17): the
state file's public facts, the one event the pool decides, and its outputs — the
log line, the worker's metrics, the webhook (a real HTTP receiver on 127.0.0.1).

The viewer's page and banner: tests/unit/test_viewer_sessions.py and, on the real
viewer, tests/integration/test_viewer.py; a worker's webhook and /metrics end to
end: tests/integration/test_sessions.py."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from archivers.net.cookies import parse_cookies_txt
from archivers.sessions.pool import SessionPool
from archivers.sessions.state import read_states, standings
from archivers.sessions.vault import Vault
from archivers.sessions.webhook import Webhook
from streams.metrics import Metrics
from tests.support.hooks import WebhookReceiver
from tests.support.stack import poll
from warcflow.settings import SettingsError, load_settings

COOKIES = parse_cookies_txt(".x.com\tTRUE\t/\tTRUE\t2000000000\tauth_token\tsecret-auth\n")
ROOT = Path(__file__).resolve().parents[2]


def vault_of(tmp_path) -> Vault:
    return Vault(tmp_path / "vault", tmp_path / "vault.key")


def test_the_state_file_keeps_each_sessions_public_facts_and_no_cookie(tmp_path):
    vault = vault_of(tmp_path)
    a = vault.add("x.com", "@a", COOKIES)
    b = vault.add("x.com", "@b", COOKIES)
    raw = vault.state_path.read_text()
    assert "secret-auth" not in raw and "auth_token" not in raw
    facts = {
        s.session_id: (s.site, s.handle, s.state) for s in standings(read_states(vault.state_path))
    }
    assert facts == {
        a.session_id: ("x.com", "@a", "active"),
        b.session_id: ("x.com", "@b", "active"),
    }

    # a state file from before the facts were kept is read all the same, and the
    # vault's next add or remove writes them
    old = {
        k: {f: v for f, v in e.items() if f in ("state", "reason", "at")}
        for k, e in read_states(vault.state_path).items()
    }
    vault.state_path.write_text(json.dumps(old))
    [first, _] = standings(read_states(vault.state_path))
    assert first.site is None and first.handle is None and first.state == "active"
    vault.remove(b.session_id)
    [kept] = standings(read_states(vault.state_path))
    assert (kept.session_id, kept.site, kept.handle) == (a.session_id, "x.com", "@a")
    assert kept.added_at == a.added_at


def test_marking_a_session_is_one_event_however_many_workers_meet_it(tmp_path, caplog):
    vault = vault_of(tmp_path)
    session = vault.add("x.com", "@research", COOKIES)
    heard = []

    def broken(marked):
        raise RuntimeError("a listener that fails")

    pool = SessionPool(vault, [broken, heard.append])
    other_worker = SessionPool(vault, [heard.append])
    with caplog.at_level(logging.INFO, logger="warcflow.sessions"):
        pool.expire(session, "expired", "redirected to the login page")
        other_worker.expire(session, "expired", "redirected to the login page")
    [marked] = heard  # the second worker found it marked already: no second event
    assert marked.body("w1") == {
        "event": "session_expired",
        "session": {"id": session.session_id, "site": "x.com", "handle": "@research"},
        "reason": "redirected to the login page",
        "at": marked.at,
        "worker": "w1",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", marked.at)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"session {session.session_id} (@research on x.com) is expired: redirected to the "
        "login page; captures of x.com use another session, or none"
    ]
    assert "could not tell" in caplog.text  # the failing listener, logged, not raised
    assert "secret-auth" not in caplog.text
    # challenged after expired is a change again
    pool.expire(session, "challenged", "a challenge page")
    assert [m.event for m in heard] == ["session_expired", "session_challenged"]


def test_the_worker_shows_sessions_by_state_and_counts_those_it_marked(tmp_path):
    vault = vault_of(tmp_path)
    a = vault.add("x.com", "@a", COOKIES)
    vault.add("x.com", "@b", COOKIES)
    metrics = Metrics()
    pool = SessionPool(vault, [metrics.session_marked])
    metrics.follow_sessions(pool.counts)
    pool.expire(a, "expired", "login page")
    text = generate_latest(metrics.registry).decode()
    assert 'warcflow_sessions{site="x.com",state="active"} 1.0' in text
    assert 'warcflow_sessions{site="x.com",state="expired"} 1.0' in text
    assert 'warcflow_sessions{site="x.com",state="challenged"} 0.0' in text
    assert 'warcflow_sessions_marked_total{site="x.com",state="expired"} 1.0' in text

    vault.key_path.write_text("not a key\n")  # an unreadable vault: the scrape still works
    pool = SessionPool(vault)
    metrics.follow_sessions(pool.counts)
    text = generate_latest(metrics.registry).decode()
    assert "warcflow_sessions{" not in text and "warcflow_sessions_marked_total{" in text


def test_the_webhook_gets_the_event_without_holding_up_the_capture(tmp_path):
    vault = vault_of(tmp_path)
    session = vault.add("x.com", "@research", COOKIES)
    with WebhookReceiver() as hook:
        hook.hold.clear()  # the receiver hangs until the test lets it answer
        pool = SessionPool(vault, [Webhook(hook.url, "worker-7", timeout=10)])
        started = time.monotonic()
        pool.expire(session, "challenged", "a Cloudflare challenge page")
        assert time.monotonic() - started < 1.0  # the capture went on at once
        hook.hold.set()
        [post] = poll(hook.received, timeout=10, what="the webhook's POST")
    assert post["path"] == f"/hook/{hook.token}"
    assert post["headers"]["Content-Type"] == "application/json"
    body = post["body"]
    assert body["event"] == "session_challenged" and body["worker"] == "worker-7"
    assert body["session"] == {"id": session.session_id, "site": "x.com", "handle": "@research"}
    assert body["reason"] == "a Cloudflare challenge page" and body["at"].endswith("Z")
    assert "secret" not in json.dumps(post)


def _warned(caplog, text: str):
    def found():
        return [r.getMessage() for r in list(caplog.records) if text in r.getMessage()]

    return found


@pytest.mark.parametrize(
    ("status", "tries"),
    [(503, 3), (429, 3), (404, 1), (302, 1)],  # a redirect is not followed, nor tried again
)
def test_a_failing_receiver_is_tried_a_few_times_then_logged_without_its_token(
    tmp_path, caplog, status, tries
):
    vault = vault_of(tmp_path)
    session = vault.add("x.com", "@a", COOKIES)
    with WebhookReceiver() as hook, caplog.at_level(logging.WARNING, logger="warcflow.sessions"):
        hook.status = status
        webhook = Webhook(hook.url, "w", attempts=3, backoff=0.01)
        SessionPool(vault, [webhook]).expire(session, "expired", "login page")
        said = f"after {tries} attempt(s): HTTP {status}"
        [line] = poll(_warned(caplog, said), timeout=10, what="the log line")
        webhook.close()
        assert len(hook.received()) == tries
    receiver = hook.url.split("/hook/")[0]
    assert line == (
        f"session webhook {receiver} did not take session_expired of session "
        f"{session.session_id} {said}"
    )
    assert hook.token not in caplog.text


def test_an_unreachable_receiver_is_logged_and_the_thread_goes_on(tmp_path, caplog):
    vault = vault_of(tmp_path)
    session = vault.add("x.com", "@a", COOKIES)
    with WebhookReceiver() as hook:
        url = hook.url
    # the receiver is gone: the port refuses connections
    with caplog.at_level(logging.WARNING, logger="warcflow.sessions"):
        webhook = Webhook(url, "w", attempts=2, backoff=0.01)
        SessionPool(vault, [webhook]).expire(session, "expired", "login page")
        [line] = poll(_warned(caplog, "after 2 attempt(s)"), timeout=10, what="the log")
    assert "Connection" in line and hook.token not in caplog.text
    assert webhook._thread is not None and webhook._thread.is_alive()
    webhook.close()


def test_the_webhook_setting_takes_only_an_http_url_and_is_masked():
    with pytest.raises(SettingsError, match="WARCFLOW_SESSION_WEBHOOK"):
        load_settings({"WARCFLOW_SESSION_WEBHOOK": "ftp://hooks.example/x"})
    with pytest.raises(SettingsError, match="WARCFLOW_SESSION_WEBHOOK"):
        load_settings({"WARCFLOW_SESSION_WEBHOOK": "https:///no-host"})
    settings = load_settings({"WARCFLOW_SESSION_WEBHOOK": "https://hooks.example/T/secret-path"})
    [row] = [r for r in settings.describe() if r["env"] == "WARCFLOW_SESSION_WEBHOOK"]
    assert row["value"] == "********"


def test_the_viewer_reads_the_state_file_beside_the_configured_vault(tmp_path):
    settings = load_settings({"WARCFLOW_HOME": str(tmp_path)})
    assert settings.viewer.session_state == tmp_path / "sessions" / "vault.state.json"
    settings = load_settings({"WARCFLOW_SESSION_VAULT": str(tmp_path / "v" / "sessions.bin")})
    assert settings.viewer.session_state == tmp_path / "v" / "sessions.bin.state.json"
    assert settings.session_vault == tmp_path / "v" / "sessions.bin"


def test_docs_operations_lists_every_metric_the_worker_serves():
    doc = (ROOT / "docs" / "operations.md").read_text()
    names = []
    for family in Metrics().registry.collect():
        names.append(family.name + ("_total" if family.type == "counter" else ""))
    assert "warcflow_sessions" in names and "warcflow_sessions_marked_total" in names
    for name in names:
        assert re.search(rf"`{re.escape(name)}[{{`]", doc), f"{name} is not in docs/operations.md"
