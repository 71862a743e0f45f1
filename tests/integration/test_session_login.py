"""`warcflow session login` with Debian's Chromium (issue 17): the operator logs
in through the browser warcflow opens, and its cookies become a session.

The platform (tests/support/platform.py) has a login form that sets an
``auth_token`` cookie. The command runs as a user runs it, headless with its
DevTools on a port; the test is the operator, logging in through that port
with Playwright's ``connect_over_cdp`` as chrome://inspect would. Asserted:
the command exits 0 and prints the session as `session add` does, `session
list` shows it, the session's cookie gets the walled post, no cookie value is
in anything the command printed, the DevTools port listened on 127.0.0.1 only,
Chromium did not run as root and kept its sandbox, and the temporary profile
is gone afterwards. A login nobody completes times out, exits 1 and saves
nothing.

No Kafka or S3: `session login`, `list` and `test` need only the vault.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from playwright._impl._errors import TargetClosedError  # not re-exported by sync_api
from playwright.sync_api import sync_playwright

from archivers.sessions.vault import Vault
from infra.processes import free_port
from tests.support.platform import LOGIN_FORM, PASSWORD, Platform
from tests.support.site import TestSite
from tests.support.stack import ROOT, cli, poll

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def platform():
    with TestSite() as site:
        yield Platform(site, clip=b"")


def login_env(home: Path, site: TestSite) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("WARCFLOW_") and k not in ("DISPLAY", "WAYLAND_DISPLAY")
    }
    env.update(
        WARCFLOW_HOME=str(home),
        WARCFLOW_BROWSER_EXECUTABLE=CHROMIUM,
        WARCFLOW_FETCH_ALLOW=site.allow,  # for `session test`
        PYTHONUNBUFFERED="1",
    )
    return env


class LoginProcess:
    """`warcflow session login …` in a subprocess; its stderr read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], stdin=subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warcflow", "session", "login", *args],
            env=env,
            cwd=ROOT,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def said(self, pattern: str, timeout: float = 90) -> re.Match:
        def found():
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"session login ended early: {''.join(self.lines)}")
            return next((m for line in self.lines if (m := re.search(pattern, line))), None)

        return poll(found, timeout=timeout, interval=0.1, what=f"{pattern!r} on stderr")

    def finish(self, timeout: float = 90) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code, out, "".join(self.lines)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    found.add("ipv6:" + address)
    return found


def chromium_processes(profile: str) -> list[tuple[int, list[str]]]:
    """(real uid, argv) of every process whose command line names ``profile``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if any(profile.encode() in arg for arg in argv):
            uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
            out.append((uid, [a.decode(errors="replace") for a in argv if a]))
    return out


def log_in_through(endpoint: str, site: TestSite) -> None:
    """Do what the operator does in the browser: fill in the form, log in."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(endpoint)

        def login_page():
            pages = [p for c in browser.contexts for p in c.pages]
            return next((p for p in pages if p.url == site.url(LOGIN_FORM)), None)

        page = poll(login_page, timeout=60, interval=0.2, what="the login page")
        page.wait_for_selector("#password")
        page.fill("#username", "research")
        page.fill("#password", PASSWORD)
        page.click("#submit")
        try:
            page.wait_for_url(site.url("/home"))
        except TargetClosedError:
            # warcflow saw auth_token and closed its browser before /home had loaded;
            # whether the login was saved is what the command's exit and output say
            return
        browser.close()  # the connection; the browser is warcflow's


def test_an_operator_logs_in_through_the_browser_and_the_session_gets_the_post(platform, tmp_path):

    site = platform.site
    env = login_env(tmp_path / "home", site)
    port = free_port()
    login = LoginProcess(
        [
            site.host,
            "--handle", "@browser_account",
            "--url", site.url(LOGIN_FORM),
            "--until-cookie", "auth_token",
            "--remote-debugging-port", str(port),
            "--json",
        ],
        env,
    )  # fmt: skip
    try:
        profile = login.said(r"a fresh browser profile in (\S+),").group(1)
        endpoint = login.said(r"DevTools listen on 127\.0\.0\.1:\d+ only: (http://\S+)").group(1)
        assert endpoint == f"http://127.0.0.1:{port}"
        login.said(rf"ssh -N -L {port}:127\.0\.0\.1:{port} ")
        # the DevTools port is on loopback only, never on every address
        assert listening_addresses(port) == {"127.0.0.1"}
        assert os.path.isdir(profile)
        browsers = chromium_processes(profile)
        assert browsers, "no Chromium runs with the login's profile"
        assert all("--no-sandbox" not in argv for _, argv in browsers)
        if os.geteuid() == 0:  # as root, Chromium runs as the unprivileged browser user
            assert all(uid != 0 for uid, _ in browsers), browsers

        # the operator, through the DevTools port: fill in the form and log in
        log_in_through(endpoint, site)
        code, out, err = login.finish()
    finally:
        login.kill()

    assert code == 0, err
    assert len(platform.logins) == 1
    token = platform.logins[0]
    added = json.loads(out)
    assert added["site"] == site.host and added["handle"] == "@browser_account"
    assert added["cookies"] == 2  # auth_token and lang
    # the cookie's value is in nothing the command printed
    assert token not in out and token not in err
    assert not os.path.exists(profile)  # the profile, cookies and all, is gone

    listed = cli("session", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (session,) = json.loads(listed.stdout)
    assert session["id"] == added["id"] and session["handle"] == "@browser_account"
    assert session["cookies"] == 2 and session["state"] == "active"
    assert token not in listed.stdout

    # the vault's cookie header gets the walled post from the platform
    (kept,) = Vault(
        tmp_path / "home" / "sessions" / "vault",
        tmp_path / "home" / "keys" / "session-vault.key",
    ).sessions()
    header = kept.jar().header_for(platform.url(1))
    assert header is not None and f"auth_token={token}" in header
    request = urllib.request.Request(platform.url(1), headers={"Cookie": header})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200 and b"Only followers see post 1" in answer.read()
    tested = cli("session", "test", added["id"], platform.url(2), "--json", env=env)
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout)[0]["state"] == "active"


def test_a_login_nobody_completes_times_out_and_saves_nothing(platform, tmp_path):
    site = platform.site
    env = login_env(tmp_path / "home", site)
    port = free_port()
    login = LoginProcess(
        [
            site.host,
            "--handle", "@nobody_logged_in",
            "--url", site.url(LOGIN_FORM),
            "--until-cookie", "auth_token",
            "--timeout", "3",
            "--remote-debugging-port", str(port),
            "--json",
        ],
        env,
    )  # fmt: skip
    try:
        profile = login.said(r"a fresh browser profile in (\S+),").group(1)
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 1, err
    assert out == ""
    assert f"no login within 3 s ({site.host} did not set auth_token): nothing saved" in err
    assert platform.logins == [] and site.count(LOGIN_FORM) == 1  # the form was shown
    assert not os.path.exists(profile)
    listed = cli("session", "list", "--json", env=env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_on_a_terminal_enter_ends_the_login_and_ctrl_c_saves_nothing(platform, tmp_path):
    site = platform.site
    env = login_env(tmp_path / "home", site)
    args = [site.host, "--handle", "@typed", "--url", site.url(LOGIN_FORM), "--json"]

    # logged in, then Enter pressed on the terminal (no --until-cookie)
    port = free_port()
    controller, terminal = os.openpty()
    try:
        login = LoginProcess([*args, "--remote-debugging-port", str(port)], env, stdin=terminal)
        try:
            login.said("when you press Enter here after logging in")
            log_in_through(f"http://127.0.0.1:{port}", site)
            os.write(controller, b"\n")
            code, out, err = login.finish()
        finally:
            login.kill()
    finally:
        os.close(controller)
        os.close(terminal)
    assert code == 0, err
    assert json.loads(out)["handle"] == "@typed" and json.loads(out)["cookies"] == 2
    assert platform.logins[0] not in out + err

    # Ctrl-C (SIGINT) while the browser is open: nothing saved, the profile gone
    port = free_port()
    controller, terminal = os.openpty()
    try:
        login = LoginProcess([*args, "--remote-debugging-port", str(port)], env, stdin=terminal)
        try:
            profile = login.said(r"a fresh browser profile in (\S+),").group(1)
            login.said("when you press Enter here")
            login.proc.send_signal(signal.SIGINT)
            code, out, err = login.finish()
        finally:
            login.kill()
    finally:
        os.close(controller)
        os.close(terminal)
    assert code == 1 and "interrupted: nothing saved" in err
    assert not os.path.exists(profile) and chromium_processes(profile) == []

    # the operator closes the browser before logging in: nothing saved
    port = free_port()
    login = LoginProcess([*args, "--until-cookie", "auth_token", "--remote-debugging-port",
                          str(port)], env)  # fmt: skip
    try:
        profile = login.said(r"a fresh browser profile in (\S+),").group(1)
        login.said("when 127.0.0.1 has set auth_token")
        with sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
            browser.new_browser_cdp_session().send("Browser.close")
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 1 and "the browser was closed before the login ended: nothing saved" in err
    assert not os.path.exists(profile)
    listed = json.loads(cli("session", "list", "--json", env=env).stdout)
    assert [s["handle"] for s in listed] == ["@typed"]


def test_what_cannot_work_is_refused_before_anyone_logs_in(platform, tmp_path):
    site = platform.site
    env = login_env(tmp_path / "home", site)
    args = ["session", "login", site.host, "--handle", "@h", "--until-cookie", "auth_token"]
    with socket.socket() as taken:  # a port in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = cli(*args, "--remote-debugging-port", str(taken.getsockname()[1]), env=env)
    assert busy.returncode == 2 and "in use: choose another" in busy.stderr
    # no terminal and no --until-cookie: nothing could end it
    endless = cli(*args[:5], "--remote-debugging-port", str(free_port()), env=env)
    assert endless.returncode == 2 and "--until-cookie NAME" in endless.stderr
    # Chromium that does not start
    broken = cli(
        *args, "--remote-debugging-port", str(free_port()),
        env={**env, "WARCFLOW_BROWSER_EXECUTABLE": str(tmp_path / "no-chromium")},
    )  # fmt: skip
    assert broken.returncode == 3 and "did not start" in broken.stderr
    # a vault that does not open: said before the browser starts
    vault = tmp_path / "home" / "sessions" / "vault"
    vault.parent.mkdir(parents=True)
    vault.write_bytes(b"not a vault")
    refused = cli(*args, "--remote-debugging-port", str(free_port()), env=env)
    assert refused.returncode == 2 and "is not a warcflow session vault" in refused.stderr
    assert "fresh browser profile" not in refused.stderr
    assert site.count(LOGIN_FORM) == 0  # no browser ever opened the login page
