"""Who may do what through the viewer (review F7): accounts for every state change
whatever the bind address, the same-origin rule and CSRF tokens, downloads
recorded as their account, rate limits, audits off the request path.

Unit tests of the app over the in-memory store; the same on the real viewer
process and services: tests/integration/test_viewer.py
(test_accounts_guard_every_change_on_the_real_viewer)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import threading

import pytest
from fastapi.testclient import TestClient

from archivers.custody.ledger import CustodyEvent
from archivers.store.memory import MemoryStore
from viewer.accounts import Accounts
from viewer.app import create_app
from viewer.audits import AuditCache
from viewer.auth import COOKIE
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings
from warcflow.settings import load_settings

ORIGIN = "http://127.0.0.1:8080"
FORGED = {
    "urls": "https://attacker.example/decoy",
    "operator": "Jane Doe (ICIJ)",
    "case_id": "KZN-17",
    "purpose": "forged",
}
DATA = b"\0" * 100
SHA = hashlib.sha256(DATA).hexdigest()
PASSWORD = "correct horse battery"


class Viewer:
    """An app with accounts anna (submitter), vic (viewer), root (admin, password)."""

    def __init__(self, tmp_path, **settings) -> None:
        self.submitted: list[tuple[list[str], dict]] = []
        self.records: list[CustodyEvent] = []
        self.accounts = Accounts(tmp_path / "users.json")
        at = "2026-12-01T00:00:00Z"
        self.tokens = {
            name: self.accounts.add(name, role, password=None, at=at)[1]
            for name, role in (("anna", "submitter"), ("vic", "viewer"))
        }
        self.accounts.add("root", "admin", password="correct horse battery", at=at)
        self.store = MemoryStore()
        self.store.put_new(
            f"media/sha256/{SHA[:2]}/{SHA}.mp4",
            io.BytesIO(DATA),
            size=len(DATA),
            sha256=SHA,
            content_type="video/mp4",
        )

        def submit(urls, tags, note, **context):
            self.submitted.append((urls, context))
            return [{"request_id": "r", "url": u} for u in urls]

        self.settings = ViewerSettings(state_dir=tmp_path, **settings)
        self.app = create_app(
            self.settings,
            Catalog(tmp_path / "catalog.sqlite"),
            self.store,
            submit,
            self.records.append,
            accounts=self.accounts,
        )

    def client(self, token: str | None = None) -> TestClient:
        web = TestClient(self.app, base_url=ORIGIN)
        if token:
            web.headers["Authorization"] = f"Bearer {token}"
        return web

    def logged_in(self, name="root", password=PASSWORD) -> tuple[TestClient, str]:
        """A browser-like client logged in by the form; (it, the CSRF token of its pages)."""
        web = self.client()
        done = web.post(
            "/login",
            data={"name": name, "password": password},
            headers={"Origin": ORIGIN},
            follow_redirects=False,
        )
        assert done.status_code == 303, done.text
        form = web.get("/submit").text
        return web, re.search(r'name="csrf" value="([0-9a-f]+)"', form).group(1)


def test_a_cross_site_form_post_is_refused_even_with_a_session(tmp_path):
    viewer = Viewer(tmp_path)
    web, csrf = viewer.logged_in()
    for headers in (
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, or a no-referrer page elsewhere
        {"Origin": "http://localhost:8090"},  # the replay origin: archived pages
        {"Referer": "https://evil.example/x"},
    ):
        refused = web.post("/submit", data={**FORGED, "csrf": csrf}, headers=headers)
        assert refused.status_code == 403, headers
        assert "this viewer's own pages" in refused.text
    assert viewer.submitted == []


def test_the_form_needs_a_session_and_its_csrf_token(tmp_path):
    viewer = Viewer(tmp_path)
    anonymous = viewer.client().post("/submit", data=FORGED, headers={"Origin": ORIGIN})
    assert anonymous.status_code == 401 and "log in first" in anonymous.text
    web, csrf = viewer.logged_in()
    same_origin = {"Origin": ORIGIN}
    no_token = web.post("/submit", data=FORGED, headers=same_origin)
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    wrong = web.post("/submit", data={**FORGED, "csrf": "0" * 32}, headers=same_origin)
    assert wrong.status_code == 403 and viewer.submitted == []
    done = web.post(
        "/submit", data={"urls": "https://a.example/1", "csrf": csrf}, headers=same_origin
    )
    assert done.status_code == 200 and "Submitted 1 URL" in done.text
    [(urls, context)] = viewer.submitted
    assert urls == ["https://a.example/1"]
    assert context["account"] == "root" and context["operator"] == "root"  # the default
    # logging out is a change too: same origin and the token
    assert web.post("/logout", data={"csrf": "0" * 32}, headers=same_origin).status_code == 403
    out = web.post("/logout", data={"csrf": csrf}, headers=same_origin, follow_redirects=False)
    assert out.status_code == 303 and f'{COOKIE}=""' in out.headers["set-cookie"]
    assert web.get("/api/whoami").status_code == 401


def test_the_session_cookie_is_http_only_and_same_site_strict(tmp_path):
    viewer = Viewer(tmp_path)
    login = viewer.client().post(
        "/login",
        data={"name": "root", "password": "correct horse battery", "next": "//evil.example/"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Secure" not in cookie  # plain http locally
    assert login.headers["location"] == "/"  # never off to another site
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null"
    # on the viewer's own forms (tests/e2e/test_browser.py logs in and submits)
    assert login.headers["referrer-policy"] == "same-origin"
    wrong = viewer.client().post(
        "/login", data={"name": "root", "password": "nope"}, headers={"Origin": ORIGIN}
    )
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    behind_tls = Viewer(tmp_path / "tls", public_url="https://archive.example.org")
    secure = behind_tls.client().post(
        "/login",
        data={"name": "root", "password": "correct horse battery"},
        headers={"Origin": "https://archive.example.org"},
        follow_redirects=False,
    )
    assert "Secure" in secure.headers["set-cookie"]


def test_roles_decide_who_submits_through_the_api(tmp_path):
    viewer = Viewer(tmp_path)
    body = {"urls": ["https://a.example/1"], "operator": "anna", "case_id": "KZN-17"}
    anonymous = viewer.client().post("/api/submit", json=body)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith(
        "Bearer"
    )
    bad = viewer.client("anna:" + "0" * 48).post("/api/submit", json=body)
    assert bad.status_code == 401
    reader = viewer.client(viewer.tokens["vic"]).post("/api/submit", json=body)
    assert reader.status_code == 403 and "needs submitter" in reader.json()["errors"][0]
    assert viewer.submitted == []
    ok = viewer.client(viewer.tokens["anna"]).post("/api/submit", json=body)
    assert ok.status_code == 202
    assert viewer.submitted == [
        (
            ["https://a.example/1"],
            {
                "operator": "anna",
                "case_id": "KZN-17",
                "purpose": None,
                "mode": "auto",
                "account": "anna",
            },
        )
    ]
    basic = viewer.client().post("/api/submit", json=body, auth=("root", "correct horse battery"))
    assert basic.status_code == 202


def test_the_api_with_a_session_cookie_needs_the_csrf_header(tmp_path):
    viewer = Viewer(tmp_path)
    web, csrf = viewer.logged_in()
    body = {"urls": ["https://a.example/1"]}
    assert web.post("/api/submit", json=body).status_code == 403
    ok = web.post("/api/submit", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 202


def test_downloads_need_an_account_and_record_it(tmp_path):
    viewer = Viewer(tmp_path)
    anonymous = viewer.client().get(f"/media/{SHA}")
    assert anonymous.status_code == 401 and viewer.records == []
    assert viewer.client().get("/capture/01M894TV61TJ0X30734E5QKMXX/warc").status_code == 401
    got = viewer.client(viewer.tokens["vic"]).get(f"/media/{SHA}")
    assert got.status_code == 200 and got.content == DATA
    [event] = viewer.records
    assert event.event == "download" and event.who == "vic (viewer)"
    assert "127.0.0.1" not in event.who and "testclient" not in event.who  # no address
    # a player's seek is the same viewing: neither recorded again nor counted
    seek = viewer.client(viewer.tokens["vic"]).get(f"/media/{SHA}", headers={"Range": "bytes=50-"})
    assert seek.status_code == 206 and len(viewer.records) == 1


def test_downloads_and_submits_are_rate_limited_with_retry_after(tmp_path):
    viewer = Viewer(tmp_path, downloads_per_minute=2, submits_per_minute=1)
    vic = viewer.client(viewer.tokens["vic"])
    assert [vic.get(f"/media/{SHA}").status_code for _ in range(2)] == [200, 200]
    limited = vic.get(f"/media/{SHA}")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert len(viewer.records) == 2  # the refused one is not in the ledger
    # per address too: another account from the same address waits as well
    assert viewer.client(viewer.tokens["anna"]).get(f"/media/{SHA}").status_code == 429
    anna = viewer.client(viewer.tokens["anna"])
    assert anna.post("/api/submit", json={"urls": ["https://a.example/1"]}).status_code == 202
    again = anna.post("/api/submit", json={"urls": ["https://a.example/2"]})
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1


def test_logins_are_rate_limited(tmp_path):
    viewer = Viewer(tmp_path, logins_per_minute=3)
    web = viewer.client()
    codes = [
        web.post(
            "/login", data={"name": "root", "password": f"guess {n}"}, headers={"Origin": ORIGIN}
        ).status_code
        for n in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    # guessing through an Authorization header counts the same, and past the limit
    # even the right password is not checked
    other = Viewer(tmp_path / "basic", logins_per_minute=3)
    web = other.client()
    guesses = [web.get("/api/whoami", auth=("root", f"guess {n}")).status_code for n in range(3)]
    assert guesses == [401, 401, 401]
    blocked = web.get("/api/whoami", auth=("root", PASSWORD))
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1


def test_a_new_secret_or_a_removed_account_ends_its_sessions(tmp_path):
    viewer = Viewer(tmp_path)
    web, _csrf = viewer.logged_in()
    assert web.get("/api/whoami").json()["name"] == "root"
    viewer.accounts.add(
        "root",
        "admin",
        password="another long one",
        at="2026-12-02T00:00:00Z",
        replace_existing=True,
    )
    assert web.get("/api/whoami").status_code == 401
    web, _csrf = viewer.logged_in(password="another long one")
    viewer.accounts.remove("root")
    assert web.get("/api/whoami").status_code == 401
    forged = viewer.client()
    forged.cookies.set(COOKIE, "cm9vdHwxfDk5OTk5OTk5OTl8eA.0000")
    assert forged.get("/api/whoami").status_code == 401


def test_reading_is_open_on_loopback_only_and_closed_behind_a_public_url(tmp_path):
    local = Viewer(tmp_path)
    assert local.client().get("/api/search", params={"q": "x"}).status_code == 200
    public = Viewer(tmp_path / "public", public_url="https://archive.example.org")
    web = public.client()
    assert web.get("/api/search", params={"q": "x"}).status_code == 401
    page = web.get("/search", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    assert web.get("/login").status_code == 200 and web.get("/healthz").status_code == 200
    assert web.get("/cdx", params={"url": "https://a.example/"}).status_code == 401
    reader = public.client(public.tokens["vic"])
    assert reader.get("/api/search", params={"q": "x"}).status_code == 200
    closed = Viewer(tmp_path / "closed", anonymous_read="false")
    assert closed.client().get("/api/search", params={"q": "x"}).status_code == 401
    wide = load_settings({"WARCFLOW_HOME": str(tmp_path), "WARCFLOW_VIEWER_HOST": "0.0.0.0"})
    assert not wide.viewer.reading_is_open  # no token setting needed: accounts always
    assert load_settings({"WARCFLOW_HOME": str(tmp_path)}).viewer.reading_is_open


def test_a_trusted_proxy_names_the_account_and_the_client(tmp_path):
    viewer = Viewer(
        tmp_path,
        public_url="https://archive.example.org",
        trusted_proxies=("testclient",),
        user_header="X-Forwarded-User",
    )
    web = viewer.client()
    me = web.get("/api/whoami", headers={"X-Forwarded-User": "vic"})
    assert me.json() == {"name": "vic", "role": "viewer", "via": "proxy"}
    unknown = web.get("/api/whoami", headers={"X-Forwarded-User": "mallory"})
    assert unknown.status_code == 401
    untrusted = Viewer(tmp_path / "u", user_header="X-Forwarded-User")
    assert (
        untrusted.client().get("/api/whoami", headers={"X-Forwarded-User": "vic"}).status_code
        == 401
    )


def test_an_audit_is_never_run_in_the_request(tmp_path):
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow_audit(manifest):
        started.set()
        release.wait(30)
        ran.append(manifest["capture_id"])
        return {"capture_id": manifest["capture_id"], "ok": True}

    heads = ["ledger/heads/000000000001.json"]
    cache = AuditCache(
        MemoryStore(),
        workers=1,
        queue_size=1,
        head=lambda: heads[0],
        audit=slow_audit,
        head_every=3600,  # the test looks the head up itself
    )
    cache.refresh_head()
    first = {"capture_id": "A"}
    assert cache.get(first) == ("pending", None)  # returned while the audit waits
    assert started.wait(10)  # the worker has it
    assert cache.get(first) == ("pending", None)  # joined, not queued twice
    assert cache.get({"capture_id": "B"}) == ("pending", None)  # queued (size 1)
    assert cache.get({"capture_id": "C"}) == ("busy", None)  # the queue is full
    release.set()

    def done(capture_id):
        state, result = cache.get({"capture_id": capture_id})
        return result if state == "done" else None

    from tests.support.stack import poll

    assert poll(lambda: done("A"), timeout=10, what="the audit")["ok"] is True
    poll(lambda: done("B"), timeout=10, what="the second audit")
    assert ran == ["A", "B"]
    heads[0] = "ledger/heads/000000000002.json"  # a new head: the result is out of date
    cache.refresh_head()
    assert cache.get(first) == ("pending", None)
    poll(lambda: done("A"), timeout=10, what="the audit at the new head")
    assert ran == ["A", "B", "A"]


def test_the_audit_api_answers_pending_then_the_result(tmp_path):
    import json

    from tests.support.stack import poll

    viewer = Viewer(tmp_path)
    from dataclasses import asdict

    from archivers.manifests.manifest import Manifest

    manifest = asdict(
        Manifest(
            capture_id="01M894TV61TJ0X30734E5QKMXX",
            url="https://a.example/1",
            surt="example,a)/1",
            status="failed",
            submitted_at="2026-12-01T00:00:00Z",
            provenance={"topic": "p.ingest", "partition": 0, "offset": 1},
            agent={"name": "warcflow", "version": "test"},
            items={"html": False},
        )
    )
    catalog = Catalog(tmp_path / "c2.sqlite")
    release = threading.Event()

    def audit(m):
        release.wait(30)
        return {
            "capture_id": m["capture_id"],
            "ok": True,
            "checks": [],
            "items": {},
            "liveness": None,
            "custody": [],
        }

    app = create_app(
        viewer.settings,
        catalog,
        viewer.store,
        lambda *a, **k: [],
        accounts=viewer.accounts,
        audits=AuditCache(viewer.store, head=lambda: "", audit=audit),
    )
    catalog.capture = lambda capture_id: manifest if capture_id == manifest["capture_id"] else None
    web = TestClient(app)
    page = web.get(f"/capture/{manifest['capture_id']}")  # the page: at once, saying so
    assert page.status_code == 200 and "audit of this capture is running" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    pending = web.get(f"/api/captures/{manifest['capture_id']}/audit")
    assert pending.status_code == 202 and pending.json()["status"] == "pending"
    assert int(pending.headers["retry-after"]) > 0
    release.set()
    done = poll(
        lambda: (lambda r: r if r.status_code == 200 else None)(
            web.get(f"/api/captures/{manifest['capture_id']}/audit")
        ),
        timeout=10,
        what="the audit result",
    )
    assert json.loads(done.text)["ok"] is True
    page = web.get(f"/capture/{manifest['capture_id']}")
    assert "every check holds" in page.text and "refresh" not in page.text


def test_accounts_are_kept_hashed_in_a_private_file(tmp_path):
    accounts = Accounts(tmp_path / "users.json")
    _account, token = accounts.add("anna", "submitter", password=None, at="t")
    accounts.add("bo", "viewer", password="a long passphrase", at="t")
    text = (tmp_path / "users.json").read_text()
    assert token.split(":")[1] not in text and "a long passphrase" not in text
    assert (tmp_path / "users.json").stat().st_mode & 0o777 == 0o600
    assert accounts.from_token(token).name == "anna"
    assert accounts.authenticate("anna", token.split(":")[1]).name == "anna"
    assert accounts.authenticate("bo", "a long passphrase").role == "viewer"
    assert accounts.authenticate("bo", "a long passphras") is None
    assert accounts.authenticate("nobody", "a long passphrase") is None
    assert accounts.get("bo").scheme == "scrypt" and accounts.get("anna").scheme == "sha256"
    from viewer.accounts import AccountError

    for bad in ("has space", "a:b", "", "x" * 65):
        with pytest.raises(AccountError):
            accounts.add(bad, "viewer", password=None, at="t")
    with pytest.raises(AccountError, match="at least"):
        accounts.add("cy", "viewer", password="short", at="t")
    with pytest.raises(AccountError, match="already"):
        accounts.add("anna", "viewer", password=None, at="t")
    (tmp_path / "users.json").chmod(0o644)
    with pytest.raises(AccountError, match="chmod 600"):
        Accounts(tmp_path / "users.json").all()


def test_the_user_command_adds_lists_and_removes_accounts(tmp_path, capsys, monkeypatch):
    import io
    import json

    from warcflow.cli import main

    for name in list(os.environ):
        if name.startswith("WARCFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WARCFLOW_HOME", str(tmp_path))

    def user(*args, stdin=None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["user", *args])
        return code, capsys.readouterr()

    code, out = user("add", "anna", "--role", "submitter", "--json")
    assert code == 0, out.err
    made = json.loads(out.out)
    assert made["role"] == "submitter" and made["token"].startswith("anna:")
    accounts = Accounts(tmp_path / "viewer" / "users.json")
    assert accounts.from_token(made["token"]).name == "anna"
    assert user("add", "anna", "--role", "viewer")[0] == 2  # exists: --replace
    code, _ = user("add", "bo", "--role", "viewer", "--password", stdin="a long passphrase\n")
    assert code == 0 and accounts.authenticate("bo", "a long passphrase")
    code, out = user("list", "--json")
    assert [(a["name"], a["kind"]) for a in json.loads(out.out)] == [
        ("anna", "token"),
        ("bo", "password"),
    ]
    assert made["token"].split(":")[1] not in out.out
    assert user("remove", "anna")[0] == 0 and accounts.get("anna") is None
    assert user("remove", "anna")[0] == 4


def test_a_viewer_with_no_accounts_says_nobody_can_change_anything(tmp_path):
    from archivers.store.base import StoreSettings
    from streams.settings import KafkaAccess
    from streams.topics import TopicNames
    from viewer.server import Viewer as Server

    server = Server(
        ViewerSettings(state_dir=tmp_path),
        MemoryStore(),
        StoreSettings(endpoint="http://127.0.0.1:9", bucket="b"),
        KafkaAccess("127.0.0.1:9"),
        TopicNames("p"),
    )
    problem = server.accounts_problem()
    assert problem and "nobody can submit or download" in problem
    assert "warcflow user add NAME --role admin" in problem
    server.accounts.add("anna", "admin", password=None, at="t")
    assert server.accounts_problem() is None


def test_a_media_original_changed_behind_warcflows_back_is_not_served(tmp_path):
    """Review F9: the viewer served whatever the key held now. A media original
    is named by its SHA-256; when the server's checksum of the object says
    otherwise (a newer version written over it), the download is refused and
    nothing is recorded as downloaded."""
    viewer = Viewer(tmp_path)
    key = f"media/sha256/{SHA[:2]}/{SHA}.mp4"
    forged = b"not the clip that was captured"
    viewer.store.objects[key] = viewer.store.objects[key].__class__(
        forged, viewer.store.objects[key].last_modified, hashlib.sha256(forged).hexdigest()
    )
    got = viewer.client(viewer.tokens["vic"]).get(f"/media/{SHA}")
    assert got.status_code == 409 and "no longer holds" in got.text
    assert forged not in got.content and viewer.records == []


def test_a_range_that_covers_the_file_from_its_start_is_a_download(tmp_path):
    """Review: only a range starting after byte 0 is a player's seek; ``bytes=00-``
    and suffix ranges (``bytes=-N``, which may cover the whole file) were served
    whole with no custody entry and no rate limit."""
    viewer = Viewer(tmp_path)
    vic = viewer.client(viewer.tokens["vic"])
    for wanted in ("bytes=00-", f"bytes=-{len(DATA) * 10}", "bytes=-5"):
        got = vic.get(f"/media/{SHA}", headers={"Range": wanted})
        assert got.status_code == 206, wanted
    assert len(viewer.records) == 3
    assert all(e.objects[0].sha256 == SHA for e in viewer.records)
    assert vic.get(f"/media/{SHA}", headers={"Range": "bytes=10-"}).status_code == 206
    assert len(viewer.records) == 3  # a seek: the same viewing
