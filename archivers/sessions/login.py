"""``warcflow session login``: the operator logs in in a browser warcflow opens.

warcflow starts Chromium with a fresh, empty profile at the site's login page;
the operator logs in (a password, a code, a challenge: whatever the platform
asks); warcflow then takes the cookies the browser holds for the site — the
host and its subdomains, ``archivers.net.cookies.of_site``, the rule
``session add`` applies too — and the caller seals them in the vault as a new
session. The login ends when:

- every cookie named with ``--until-cookie`` is set for the site (polled every
  ``POLL`` seconds: how scripts and the tests drive it), or
- the operator presses Enter on the terminal warcflow runs in, or
- ``timeout`` seconds pass, the browser is closed, or warcflow gets SIGINT,
  SIGTERM or SIGHUP: then nothing is saved.

Two ways to see the browser (``plan_login``): a window on the operator's
display when there is one (``DISPLAY`` or ``WAYLAND_DISPLAY``, and no
``--remote-debugging-port``); otherwise Chromium runs headless with its
DevTools on ``127.0.0.1:PORT`` only — never another address — and the
operator reaches it through an SSH tunnel and ``chrome://inspect``. Anyone
with an account on the machine can reach a loopback port: while the login is
open, so could they.

This browser is the operator's, not a capture: it loads what the operator
asks for on the machine's network, directly, without the capture fence
(the fetcher's address policy, the empty network namespace, the dead proxy of
``archivers.capture.browser``). What it keeps of the capture's care is what
protects the machine: Chromium's sandbox stays on, and when warcflow runs as
root Chromium runs as the unprivileged browser user the captures use
(``WARCFLOW_BROWSER_USER``, through ``fenced_launcher(network=True)``: no
capabilities, ``no_new_privs``), in a profile of its own, with a minimal
environment (no warcflow setting, no S3 secret).

Invariants: the profile directory (where Chromium keeps the cookies on disk)
is deleted when the login ends, however it ends; no cookie value is printed,
logged or put in an error message — only cookie names and counts.

The browser itself is behind a two-method interface, ``LoginBrowser``: the
real one is ``archivers.capture.browser.interactive_browser`` (Playwright lives
there), the unit tests hand in a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, TextIO
from urllib.parse import urlsplit

from archivers.net.cookies import Cookie, carriable, of_site
from archivers.sessions.vault import normal_site

DEFAULT_TIMEOUT = 600.0
"""Seconds the operator has to log in, by default."""
DEFAULT_PORT = 9222
"""Chromium's DevTools port when there is no display and none is given."""
POLL = 0.5
"""Seconds between two looks at the browser's cookies."""
DEVTOOLS_WAIT = 30.0
"""Most seconds waited for Chromium's DevTools to answer on their port."""
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR")
"""What a headed Chromium needs of the environment to open a window."""

COOKIES, ENTER, TIMEOUT, CLOSED, INTERRUPTED = (
    "cookies",
    "enter",
    "timeout",
    "closed",
    "interrupted",
)


class LoginError(Exception):
    """The login cannot start as asked: what to fix is in the message."""


class BrowserUnavailable(LoginError):
    """Chromium did not start, or its DevTools did not answer on their port."""


class BrowserClosed(Exception):
    """The browser is gone (closed by the operator, or crashed)."""


class LoginBrowser(Protocol):
    """The browser the operator logs in with."""

    async def show(self, url: str) -> str | None:
        """Open ``url``; None once it loaded, else why not (the browser stays open)."""

    async def cookies(self) -> tuple[Cookie, ...]:
        """Every cookie the browser holds now; ``BrowserClosed`` once it is gone."""


@dataclass(frozen=True)
class LoginPlan:
    site: str
    """The session's site (``normal_site``)."""
    url: str
    until: tuple[str, ...]
    """Cookie names that, once all set for the site, end the login."""
    timeout: float
    """Seconds."""
    port: int | None
    """Chromium's DevTools port on 127.0.0.1 (headless); None: a window on the display."""
    display: Mapping[str, str] = field(default_factory=dict)
    """The display variables a headed Chromium is given."""
    terminal: bool = False
    """Whether Enter on standard input ends the login."""

    @property
    def headed(self) -> bool:
        return self.port is None


Opener = Callable[[LoginPlan, str], AbstractAsyncContextManager[LoginBrowser]]
"""Starts the browser for a plan with a profile in the given (empty) directory."""


def plan_login(
    site: str,
    *,
    url: str | None = None,
    until: tuple[str, ...] = (),
    timeout: float = DEFAULT_TIMEOUT,
    port: int | None = None,
    environ: Mapping[str, str] = os.environ,
    terminal: bool = False,
) -> LoginPlan:
    """How the login will run; ``LoginError`` (or ``VaultError`` for a bad site)
    says what is wrong before any browser starts."""
    site = normal_site(site)
    url = url or f"https://{site}/login"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LoginError(f"--url {url!r} is not an http(s) URL")
    if timeout <= 0:
        raise LoginError("--timeout must be a positive number of seconds")
    if not until and not terminal:
        raise LoginError(
            "nothing would end this login but --timeout: give --until-cookie NAME (the "
            "cookie that carries the login, docs/sessions.md lists them per platform), "
            "or run it on a terminal and press Enter once logged in"
        )
    display = {name: environ[name] for name in DISPLAY_VARIABLES if environ.get(name)}
    if port is None and not ("DISPLAY" in display or "WAYLAND_DISPLAY" in display):
        port = DEFAULT_PORT
    if port is not None:
        if not 0 < port < 65536:
            raise LoginError(f"--remote-debugging-port {port} is not a TCP port")
        if not _free(port):
            raise LoginError(
                f"port {port} on 127.0.0.1 is in use: choose another with "
                "--remote-debugging-port PORT"
            )
        display = {}
    return LoginPlan(
        site=site,
        url=url,
        until=tuple(dict.fromkeys(until)),
        timeout=timeout,
        port=port,
        display=display,
        terminal=terminal,
    )


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class LoginResult:
    ended: str
    """``cookies``, ``enter``, ``timeout``, ``closed`` or ``interrupted``."""
    cookies: tuple[Cookie, ...]
    """The site's cookies when it ended (those a Cookie header can carry)."""
    missing: tuple[str, ...]
    """``--until-cookie`` names the site had not set."""
    left_out: int = 0
    """The site's cookies left out: a Cookie header cannot carry them as they are."""

    @property
    def saved(self) -> bool:
        """Whether the cookies are to be sealed as a session."""
        return self.ended in (COOKIES, ENTER) and bool(self.cookies) and not self.missing

    def why(self, plan: LoginPlan) -> str:
        """Why nothing is saved (for a result that is not ``saved``)."""
        missing = ", ".join(self.missing)
        if self.ended == TIMEOUT:
            waited = f" ({plan.site} did not set {missing})" if missing else ""
            return (
                f"no login within {plan.timeout:g} s{waited}: nothing saved; "
                "run it again, with a longer --timeout if needed"
            )
        if self.ended == CLOSED:
            return "the browser was closed before the login ended: nothing saved"
        if self.ended == INTERRUPTED:
            return "interrupted: nothing saved"
        if self.missing:
            return (
                f"Enter pressed, but {plan.site} has not set {missing}: nothing saved "
                "(log in first, or leave that --until-cookie out)"
            )
        return f"the browser holds no cookie of {plan.site}: nothing saved (log in first)"


def select(cookies: tuple[Cookie, ...], plan: LoginPlan, ended: str) -> LoginResult:
    """What the login has got when it ends ``ended``: the site's cookies and the
    ``until`` names still missing."""
    mine = of_site(cookies, plan.site)
    kept = tuple(c for c in mine if carriable(c.name, c.value))
    names = {c.name for c in kept}
    return LoginResult(
        ended=ended,
        cookies=kept,
        missing=tuple(n for n in plan.until if n not in names),
        left_out=len(mine) - len(kept),
    )


class Stop:
    """Set once, by Enter or a signal, with why."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self.event.is_set():
            self.reason = reason
            self.event.set()


async def wait_for_login(
    browser: LoginBrowser,
    plan: LoginPlan,
    stop: Stop,
    clock: Callable[[], float] = time.monotonic,
) -> LoginResult:
    """Look at the browser's cookies every ``POLL`` seconds until the login ends
    (the module docstring says when)."""
    deadline = clock() + plan.timeout
    while True:
        try:
            found = await browser.cookies()
        except BrowserClosed:
            return LoginResult(CLOSED, (), plan.until)
        if stop.event.is_set():
            ended = stop.reason
        elif plan.until and not select(found, plan, COOKIES).missing:
            ended = COOKIES
        elif clock() >= deadline:
            ended = TIMEOUT
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.event.wait(), min(POLL, deadline - clock()))
            continue
        result = select(found, plan, ended)
        if ended in (TIMEOUT, INTERRUPTED):
            return LoginResult(ended, (), result.missing, result.left_out)
        return result


async def log_in(
    plan: LoginPlan,
    opener: Opener,
    *,
    tell: Callable[[str], None],
    stdin: TextIO | None = None,
) -> LoginResult:
    """Open the browser (``opener``), tell the operator how to reach it, and
    wait for the login to end; the profile is deleted however it ends."""
    loop = asyncio.get_running_loop()
    stop = Stop()
    watched = _on_signals(loop, lambda: stop.set(INTERRUPTED))
    if stdin is not None and plan.terminal:

        def pressed() -> None:
            stdin.readline()
            stop.set(ENTER)

        loop.add_reader(stdin.fileno(), pressed)
    profile = tempfile.mkdtemp(prefix="warcflow-login-")
    try:
        tell(f"a fresh browser profile in {profile}, deleted when this ends")
        async with opener(plan, profile) as browser:
            if plan.port is not None:
                await _devtools_answer(plan.port)
            for line in instructions(plan):
                tell(line)
            problem = await browser.show(plan.url)
            if problem:
                tell(f"{plan.url} did not load ({problem}): open the login page in the browser")
            result = await wait_for_login(browser, plan, stop)
            if result.left_out:
                tell(
                    f"{result.left_out} cookie(s) of {plan.site} left out: a Cookie header "
                    "cannot carry them as they are"
                )
            return result
    finally:
        if stdin is not None and plan.terminal:
            loop.remove_reader(stdin.fileno())
        for number in watched:
            loop.remove_signal_handler(number)
        shutil.rmtree(profile, ignore_errors=True)
        if os.path.exists(profile):
            tell(f"could not delete {profile}: delete it, it holds the browser's cookies")


def instructions(plan: LoginPlan) -> list[str]:
    """What the operator is told once the browser is open (no secret in it)."""
    if plan.port is None:
        lines = [f"Chromium is open on your display at {plan.url}: log in there"]
    else:
        endpoint = f"http://127.0.0.1:{plan.port}"
        lines = [
            f"Chromium is open, headless, at {plan.url}; its DevTools listen on "
            f"127.0.0.1:{plan.port} only: {endpoint}",
            f"to log in from your own computer: ssh -N -L {plan.port}:127.0.0.1:{plan.port} "
            f"{_this_machine()}, then in Chrome open chrome://inspect, 'Configure…', add "
            f"127.0.0.1:{plan.port}, and click 'inspect' under the page: log in in the "
            "window that opens",
            f"(a script connects with Playwright's connect_over_cdp('{endpoint}'); any "
            "account on this machine can reach that port while the login is open)",
        ]
    ends = []
    if plan.until:
        ends.append(f"when {plan.site} has set {', '.join(plan.until)}")
    if plan.terminal:
        ends.append("when you press Enter here after logging in")
    lines.append(
        f"the session is saved {' or '.join(ends)}; nothing is saved after "
        f"{plan.timeout:g} s, on Ctrl-C, or if the browser is closed"
    )
    return lines


def _this_machine() -> str:
    """This machine's name as an ssh command would take it, or a placeholder."""
    names = [socket.getfqdn(), socket.gethostname()]
    return next((n for n in names if n and not n.startswith("localhost")), "THIS-SERVER")


async def _devtools_answer(port: int) -> None:
    """Wait until Chromium's DevTools answer on 127.0.0.1:``port``."""

    def version() -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/json/version", timeout=2
            ) as answer:
                return "Browser" in json.loads(answer.read(64 * 1024))
        except (OSError, ValueError):
            return False

    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + DEVTOOLS_WAIT
    while not await loop.run_in_executor(None, version):
        if time.monotonic() >= deadline:
            raise BrowserUnavailable(
                f"Chromium's DevTools did not answer on 127.0.0.1:{port} within "
                f"{DEVTOOLS_WAIT:g} s: choose another --remote-debugging-port"
            )
        await asyncio.sleep(POLL)  # polling with a deadline: the port opens when Chromium is up


def _on_signals(loop: asyncio.AbstractEventLoop, handler: Callable[[], None]) -> list[int]:
    """Route SIGINT, SIGTERM and SIGHUP to ``handler`` (so the profile is still
    deleted); none when not on the main thread."""
    watched: list[int] = []
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(number, handler)
        except (ValueError, RuntimeError, NotImplementedError):
            continue
        watched.append(number)
    return watched
