"""`session login`'s logic (archivers/sessions/login.py) with a fake browser:
which cookies become the session, when the login ends, where the browser
shows, and that the profile goes whatever happens. The real Chromium is in
tests/integration/test_session_login.py."""

from __future__ import annotations

import asyncio
import os
import socket
from contextlib import asynccontextmanager

import pytest

from archivers.capture.browser import _cookie_of, fenced_launcher
from archivers.net.cookies import Cookie, of_site
from archivers.sessions import login
from archivers.sessions.login import (
    CLOSED,
    COOKIES,
    ENTER,
    INTERRUPTED,
    TIMEOUT,
    BrowserClosed,
    LoginError,
    LoginResult,
    Stop,
    log_in,
    plan_login,
    select,
    wait_for_login,
)
from archivers.sessions.vault import Vault, VaultError


def cookie(name: str, domain: str = "x.com", value: str = "secret-value", **kw) -> Cookie:
    fields = {"include_subdomains": False, "path": "/", "secure": True, "expires": 0}
    return Cookie(domain=domain, name=name, value=value, **{**fields, **kw})


class FakeBrowser:
    """Holds ``steps[i]`` at the i-th look (the last one thereafter); a
    ``BrowserClosed`` step is the browser going away."""

    def __init__(self, *steps) -> None:
        self.steps = list(steps)
        self.looks = 0
        self.shown: list[str] = []

    async def show(self, url: str) -> str | None:
        self.shown.append(url)
        return None

    async def cookies(self) -> tuple[Cookie, ...]:
        step = self.steps[min(self.looks, len(self.steps) - 1)]
        self.looks += 1
        if step is BrowserClosed:
            raise BrowserClosed()
        return step


def plan(**kw):
    defaults = {"until": ("auth_token",), "port": None, "environ": {"DISPLAY": ":0"}}
    return plan_login("x.com", **{**defaults, **kw})


def run(coroutine):
    return asyncio.run(coroutine)


def test_only_the_sites_cookies_a_header_can_carry_are_kept():
    found = (
        cookie("auth_token"),
        cookie("ct0", domain="api.x.com"),
        cookie("guest", domain="notx.com"),
        cookie("tracker", domain="doubleclick.net"),
        cookie("odd", value=" spaced "),
    )
    result = select(found, plan(until=("auth_token", "ct0", "twid")), COOKIES)
    assert [c.name for c in result.cookies] == ["auth_token", "ct0"]
    assert result.missing == ("twid",) and result.left_out == 1
    assert not result.saved  # a named cookie is missing
    # the rule is `session add`'s: the vault keeps the same ones
    assert of_site(found, "x.com") == found[:2] + found[4:]


def test_the_login_ends_once_every_named_cookie_is_set():
    browser = FakeBrowser((cookie("guest_id"),), (cookie("guest_id"), cookie("auth_token")))
    result = run(wait_for_login(browser, plan(timeout=30), Stop()))
    assert result.ended == COOKIES and result.saved
    assert not LoginResult(COOKIES, (), ()).saved  # nothing to seal
    assert {c.name for c in result.cookies} == {"guest_id", "auth_token"}
    assert browser.looks == 2


def test_a_login_that_times_out_or_is_interrupted_saves_nothing():
    ticks = iter(range(0, 10_000, 10))
    never = FakeBrowser((cookie("guest_id"),))
    result = run(wait_for_login(never, plan(timeout=25), Stop(), clock=lambda: next(ticks)))
    assert result.ended == TIMEOUT and not result.saved and result.cookies == ()
    assert "no login within 25 s (x.com did not set auth_token): nothing saved" in result.why(
        plan(timeout=25)
    )

    stop = Stop()
    stop.set(INTERRUPTED)
    logged_in = FakeBrowser((cookie("auth_token"),))
    result = run(wait_for_login(logged_in, plan(until=(), terminal=True), stop))
    assert result.ended == INTERRUPTED and not result.saved

    gone = run(wait_for_login(FakeBrowser(BrowserClosed), plan(), Stop()))
    assert gone.ended == CLOSED and not gone.saved and "closed" in gone.why(plan())


def test_enter_saves_what_the_site_set_only_if_nothing_named_is_missing():
    stop = Stop()
    stop.set(ENTER)
    result = run(
        wait_for_login(FakeBrowser((cookie("sessionid"),)), plan(until=(), terminal=True), stop)
    )
    assert result.ended == ENTER and result.saved
    early = run(
        wait_for_login(FakeBrowser((cookie("lang"),)), plan(until=("auth_token", "lang")), stop)
    )
    assert not early.saved and "has not set auth_token: nothing saved" in early.why(plan())
    nothing = run(
        wait_for_login(
            FakeBrowser((cookie("id", domain="other.org"),)), plan(until=(), terminal=True), stop
        )
    )
    assert not nothing.saved and "no cookie of x.com" in nothing.why(plan())


def test_the_browser_shows_on_the_display_or_headless_on_a_loopback_port(monkeypatch):
    assert plan().headed and plan().display == {"DISPLAY": ":0"}
    assert plan().url == "https://x.com/login"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    monkeypatch.setattr(login, "DEFAULT_PORT", free)
    bare = plan(environ={"XAUTHORITY": "/root/.Xauthority"})  # no display: headless
    assert bare.port == free and not bare.headed and bare.display == {}
    remote = plan(port=free)  # a port given: headless even with a display
    assert not remote.headed and remote.display == {}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(LoginError, match="in use: choose another"):
            plan(port=taken.getsockname()[1])
    with pytest.raises(LoginError, match="--until-cookie NAME"):
        plan(until=(), terminal=False)
    assert plan(until=(), terminal=True).until == ()
    with pytest.raises(LoginError, match="not an http"):
        plan(url="javascript:alert(1)")
    with pytest.raises(VaultError, match="not a site"):
        plan_login("not a site", until=("a",))


def test_the_operator_is_told_how_to_reach_the_browser_and_never_a_cookie():
    lines = login.instructions(plan(port=9333, environ={}))
    text = "\n".join(lines)
    assert "127.0.0.1:9333 only" in text and "ssh -N -L 9333:127.0.0.1:9333 " in text
    assert "chrome://inspect" in text and "when x.com has set auth_token" in text


def test_the_profile_is_deleted_however_the_login_ends(monkeypatch):
    told: list[str] = []
    profiles: list[str] = []

    def opener(browser, fail=False):
        @asynccontextmanager
        async def open_(plan, profile):
            profiles.append(profile)
            assert os.path.isdir(profile)
            (open(os.path.join(profile, "Cookies"), "w")).write("secret-value")
            if fail:
                raise login.BrowserUnavailable("Chromium did not start")
            yield browser

        return open_

    logged_in = FakeBrowser((cookie("auth_token"),))
    result = run(log_in(plan(), opener(logged_in), tell=told.append))
    assert result.saved and logged_in.shown == ["https://x.com/login"]
    with pytest.raises(login.BrowserUnavailable):
        run(log_in(plan(), opener(logged_in, fail=True), tell=told.append))
    assert len(profiles) == 2 and not any(os.path.exists(p) for p in profiles)
    assert told and not any("secret-value" in line for line in told)


def test_a_browser_cookie_becomes_a_vault_cookie_as_a_cookies_txt_line_would(tmp_path):
    host_only = _cookie_of(
        {"name": "auth_token", "value": "v", "domain": "x.com", "path": "/", "expires": -1,
         "httpOnly": True, "secure": True, "sameSite": "Lax"}
    )  # fmt: skip
    domain = _cookie_of(
        {"name": "ct0", "value": "w", "domain": ".x.com", "path": "/", "expires": 1893456000.5,
         "httpOnly": False, "secure": False, "sameSite": "None"}
    )  # fmt: skip
    assert host_only == Cookie("x.com", False, "/", True, 0, "auth_token", "v", http_only=True)
    assert domain.include_subdomains and domain.expires == 1893456000
    vault = Vault(tmp_path / "vault", tmp_path / "key")
    session = vault.add("x.com", "@a", (host_only, domain))
    assert session.jar().header_for("https://api.x.com/") == "ct0=w"


def test_the_login_launcher_keeps_the_sandbox_and_the_user_but_not_the_empty_netns(tmp_path):
    launchers, home = tmp_path / "launcher", tmp_path / "home"
    launchers.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    script = fenced_launcher(str(launchers), "/usr/bin/chromium", "nobody", str(home), network=True)
    text = open(script).read()
    assert "--no-new-privs" in text and "refusing --no-sandbox" in text
    assert "--reuid=" in text and "--net" not in text
