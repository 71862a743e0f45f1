"""The viewer's sessions page and banner (issue 17), from the state file alone:
what an admin sees, what other accounts do not, and what an old, missing or
broken state file gives. The app over the in-memory store; the same on the real
viewer: tests/integration/test_viewer.py."""

from __future__ import annotations

import json
import shutil

from fastapi.testclient import TestClient

from archivers.net.cookies import parse_cookies_txt
from archivers.sessions.pool import SessionPool
from archivers.sessions.vault import Vault
from archivers.store.memory import MemoryStore
from tests.support.readable import text_of
from viewer.accounts import Accounts
from viewer.app import create_app
from viewer.catalog import Catalog
from viewer.settings import ViewerSettings

ORIGIN = "http://127.0.0.1:8080"
COOKIES = parse_cookies_txt(".x.com\tTRUE\t/\tTRUE\t2000000000\tauth_token\tsecret-auth\n")


class Site:
    """A viewer whose state file is copied from a vault elsewhere (the viewer's
    machine has no vault and no key): accounts root (admin), anna (submitter),
    vic (viewer)."""

    def __init__(self, tmp_path) -> None:
        self.worker = tmp_path / "worker"
        self.vault = Vault(self.worker / "vault", self.worker / "vault.key")
        self.state = tmp_path / "viewer-machine" / "vault.state.json"
        accounts = Accounts(tmp_path / "users.json")
        at = "2026-12-01T00:00:00Z"
        self.tokens = {
            name: accounts.add(name, role, password=None, at=at)[1]
            for name, role in (("root", "admin"), ("anna", "submitter"), ("vic", "viewer"))
        }
        self.app = create_app(
            ViewerSettings(state_dir=tmp_path / "viewer", session_state=self.state),
            Catalog(tmp_path / "catalog.sqlite"),
            MemoryStore(),
            lambda *a, **k: [],
            accounts=accounts,
        )

    def copy_state(self) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.vault.state_path, self.state)

    def client(self, name: str) -> TestClient:
        web = TestClient(self.app, base_url=ORIGIN)
        web.headers["Authorization"] = f"Bearer {self.tokens[name]}"
        return web


def test_an_admin_sees_the_expired_session_and_a_banner_on_every_page(tmp_path):
    site = Site(tmp_path)
    good = site.vault.add("x.com", "@research_account", COOKIES)
    spent = site.vault.add("x.com", "@spent_account", COOKIES)
    pool = SessionPool(site.vault)
    pool.choose("https://x.com/status/1")
    pool.choose("https://x.com/status/2")
    pool.expire(spent, "expired", "redirected to the login page https://x.com/i/flow/login")
    site.copy_state()
    root = site.client("root")

    home = root.get("/")
    assert home.status_code == 200
    assert "1 session needs attention: expired or challenged, no capture uses it." in text_of(
        home.text
    )
    assert '<a href="/sessions">1 session needs attention</a>' in home.text
    assert "1 session needs attention" in text_of(root.get("/search?q=x").text)

    page = root.get("/sessions")
    assert page.status_code == 200
    shown = text_of(page.text)
    since = json.loads(site.state.read_text())[spent.session_id]["at"]
    assert (
        f"{spent.session_id} x.com @spent_account expired redirected to the login page "
        f"https://x.com/i/flow/login {since.replace('T', ' ').replace('Z', ' UTC')} 1"
    ) in shown  # id, site, handle, state, why, since, uses (last used: next column)
    assert f"{good.session_id} x.com @research_account active added" in shown
    assert shown.index(spent.session_id) < shown.index(good.session_id)  # attention first
    assert "secret-auth" not in page.text and "auth_token" not in page.text

    api = root.get("/api/sessions").json()
    assert api["attention"] == 1
    assert [(s["id"], s["state"], s["uses"]) for s in api["sessions"]] == [
        (spent.session_id, "expired", 1),
        (good.session_id, "active", 1),
    ]

    # two need attention: the banner says so, in the plural
    pool.expire(good, "challenged", "a challenge page")
    site.copy_state()
    assert "2 sessions need attention: expired or challenged, no capture uses them." in text_of(
        root.get("/").text
    )


def test_accounts_that_are_not_admin_see_neither_the_page_nor_the_banner(tmp_path):
    site = Site(tmp_path)
    spent = site.vault.add("x.com", "@spent_account", COOKIES)
    SessionPool(site.vault).expire(spent, "expired", "login page")
    site.copy_state()
    for name in ("vic", "anna"):
        web = site.client(name)
        page = web.get("/sessions")
        assert page.status_code == 403
        assert "it needs admin" in text_of(page.text) and spent.session_id not in page.text
        assert web.get("/api/sessions").status_code == 403
        home = web.get("/")
        assert home.status_code == 200 and "attention" not in home.text
        assert 'href="/sessions"' not in home.text
    anonymous = TestClient(site.app, base_url=ORIGIN)
    assert (
        anonymous.get("/sessions", follow_redirects=False).headers["location"].startswith("/login")
    )
    assert anonymous.get("/api/sessions").status_code == 401


def test_an_old_a_missing_and_a_broken_state_file(tmp_path):
    site = Site(tmp_path)
    root = site.client("root")
    none = root.get("/sessions")
    assert none.status_code == 200 and "No sessions" in text_of(none.text)

    # written before the state file kept sites and handles: shown, with a note
    site.state.parent.mkdir(parents=True)
    site.state.write_text(
        json.dumps(
            {
                "s-0ld00001": {
                    "state": "expired",
                    "reason": "login page",
                    "at": "2026-01-02T03:04:05Z",
                },
                "_walls": {
                    "https://x.com/1": {"session": "s-0ld00001", "at": "2026-01-02T03:04:05Z"}
                },
            }
        )
    )
    shown = text_of(root.get("/sessions").text)
    assert "s-0ld00001 – – expired login page 2026-01-02 03:04:05 UTC 0 –" in shown
    assert "written before it kept sites and handles" in shown
    assert "1 session needs attention" in shown

    site.state.write_text("{not json")
    broken = root.get("/sessions")
    assert broken.status_code == 200 and f"cannot read {site.state}" in text_of(broken.text)
    assert root.get("/").status_code == 200  # the other pages go on, without a banner
    assert root.get("/api/sessions").status_code == 503
