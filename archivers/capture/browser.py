"""Browser capture: the page as headless Chromium renders it, every request recorded.

Chromium never fetches anything itself. Every request it makes is intercepted
(``context.route("**/*")``) and performed by warcflow's recording ``Fetcher``,
so the address policy (loopback, private, metadata addresses refused; every
redirect re-checked; addresses pinned) and the size and time limits apply
exactly as to a static capture, and each exchange becomes request + response
WARC records written by the same writer. The browser is then fulfilled with the
recorded response (content coding undone, since Chromium gets the entity, not
the wire bytes). A request the fetcher refuses or cannot make is aborted and
listed in ``requisite_failures`` with its reason, like a static requisite.
As a second fence Chromium runs behind a proxy that does not exist
(``DEAD_PROXY``), so a connection that escaped interception (a preconnect,
a WebSocket) fails instead of reaching anything; WebRTC may use proxied UDP
only (``--webrtc-ip-handling-policy=disable_non_proxied_udp``: with no real
proxy, none), QUIC and DNS prefetching are off and service workers blocked.

Chromium holds hostile content, so it holds nothing else (review F6):

- its sandbox is on (never ``--no-sandbox``);
- it gets a minimal environment (``browser_environment``: no warcflow
  setting, no S3 secret);
- when the worker runs as root, Chromium is started by ``fenced_launcher``
  as an unprivileged user (``BrowserSettings.user``, ``nobody`` by default)
  with no capabilities and ``no_new_privs``, in a network namespace of its own
  holding only a loopback that is down: every request reaches warcflow over
  Playwright's pipe, and nothing else — WebRTC, DNS, QUIC, a preconnect — has
  anywhere to go. As another user, the process cannot read the worker's
  ``WARCFLOW_HOME`` (keys, spools) either. A worker that is not root (the
  Docker image) runs Chromium as itself, sandboxed by user namespaces; the
  WebRTC policy and the dead proxy are then the fence.

Redirects: Chromium does not follow a fulfilled 3xx, so the fetcher follows
them. The page itself is fetched with ``fetch_chain`` before the browser opens
its final URL (every hop checked and recorded, as in a static capture); a
subresource's hops are followed in the route handler, each one recorded, and
the browser gets the last answer.

Media loads (``<video>``/``<audio>`` requests) are aborted and reported as
found media, so the media agent stores the full file once; HLS and DASH
manifests fetched by scripts are recorded and reported too.

Every step is bounded: the capture as a whole (``timeout``), the wait for the
load event and for network quiet after it and after each of at most
``scroll_steps`` scrolls by a viewport (``idle_timeout``), the requests
(``FetchSettings.max_requisites``) and the screenshot's height
(``max_screenshot_height``). A timeout of the whole raises ``FetchUnavailable``
(retryable); a browser that crashed is relaunched for the next capture.

One Chromium process per ``Browser`` (per worker), shared by every capture,
each capture in a fresh context (no cookies or cache carried over), at most
``concurrency`` at a time.

``interactive_browser`` is the other Chromium warcflow starts: the operator's
own, for ``warcflow session login`` (archivers/sessions/login.py). It is no
capture and has none of the fence above — it reaches the network directly —
but it keeps the sandbox, and as root it runs as ``BrowserSettings.user``
without capabilities (``fenced_launcher(network=True)``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from archivers.capture.static import PageCapture
from archivers.errors import (
    CaptureError,
    FetchUnavailable,
    InvalidURL,
    Permanent,
    PolicyRefused,
    retryable_status,
)
from archivers.extract.media import STREAM_TYPES, FoundMedia, media_kind
from archivers.net.cookies import Cookie, SessionCookies
from archivers.net.fetcher import Fetcher
from archivers.net.recording import Exchange, content_type, decoded_body
from archivers.sessions.login import BrowserClosed, BrowserUnavailable, LoginPlan
from archivers.urls import canonical_url, validate_url

log = logging.getLogger("warcflow.browser")

DEAD_PROXY = "http://127.0.0.1:9"
"""Where Chromium would send a request that escaped interception: the discard
port on loopback, where nothing listens; such a request fails."""
LAUNCH_ARGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-quic",
    "--dns-prefetch-disable",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--no-pings",
    "--mute-audio",
    "--hide-scrollbars",
    f"--proxy-server={DEAD_PROXY}",
    "--proxy-bypass-list=<-loopback>",
)
DROPPED_RESPONSE_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "keep-alive"}
)
DROPPED_REQUEST_HEADERS = frozenset(
    {
        "accept-encoding",
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "upgrade",
    }
)
RENDERED_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})
"""Content types of a page the browser renders (none given: browsers sniff); others
are kept as fetched."""
QUIET = 0.5
"""Seconds without a request in flight that count as network quiet."""
SCROLL_STEP = """() => new Promise(done => {
  window.scrollBy(0, window.innerHeight);
  const bottom = window.scrollY + window.innerHeight >=
                 document.documentElement.scrollHeight - 2;
  // scroll events and intersection observers run with the next frames (a page
  // that gets no frames still goes on after 200 ms)
  requestAnimationFrame(() => requestAnimationFrame(() => done(bottom)));
  setTimeout(() => done(bottom), 200);
})"""
MAX_MEDIA_REQUESTS = 100
"""Most media URLs kept from one page's requests (the archiver takes at most
WARCFLOW_MEDIA_PER_PAGE of them with the DOM's finds)."""
DECODED_PER_PAGE = 512 * 1024 * 1024
"""Most bytes the browser is handed, decoded, for one page: each response is
also held to WARCFLOW_FETCH_MAX_BYTES decoded, so a page of gzip bombs costs at
most this much memory (review F4); past it, responses are cut and
``limits_hit`` says so."""
SCREENSHOT_URN = "urn:warcflow:screenshot:"
"""Prefix of the target URI of a screenshot's ``resource`` record; the page URL follows."""


@dataclass(frozen=True)
class BrowserSettings:
    """How browser captures run. Times in seconds, sizes in CSS pixels."""

    executable: str = "/usr/bin/chromium"
    sites: tuple[str, ...] = ()
    """Site rules choosing the browser under ``mode=auto`` (``archivers.modes``)."""
    concurrency: int = 2
    timeout: float = 90.0
    idle_timeout: float = 5.0
    scroll_steps: int = 8
    viewport_width: int = 1280
    viewport_height: int = 900
    max_screenshot_height: int = 16000
    user: str = "nobody"
    """The account Chromium runs as when the worker is root (``fenced_launcher``)."""


ENVIRONMENT = ("LANG", "LC_ALL", "TZ", "FONTCONFIG_FILE", "FONTCONFIG_PATH")
"""The worker's variables Chromium may see (fonts and locale); nothing else."""


def browser_environment(home: str) -> dict[str, str]:
    """Chromium's whole environment: a PATH, its own HOME, locale and fonts."""
    env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home}
    env.update({name: os.environ[name] for name in ENVIRONMENT if name in os.environ})
    return env


_LAUNCHER = """#!/bin/sh
# written by warcflow (archivers/capture/browser.py): Playwright starts Chromium
# through this. As root it hands Chromium's fresh profile to {user} (-h: never
# through a link), then runs it {where}as {user},
# without capabilities, sandbox on. This file stays root's: {user} cannot
# change what root runs at the next launch.
set -eu
for arg in "$@"; do
  case "$arg" in
    --no-sandbox) echo "warcflow: refusing --no-sandbox" >&2; exit 111 ;;
    --user-data-dir=*) {chown} -hR {uid}:{gid} -- "${{arg#--user-data-dir=}}" ;;
  esac
done
exec {netns}{setpriv} --reuid={uid} --regid={gid} --clear-groups \
  --inh-caps=-all --bounding-set=-all --no-new-privs -- {executable} "$@"
"""


def fenced_launcher(
    directory: str, executable: str, user: str, home: str, *, network: bool = False
) -> str:
    """Write the launcher (see ``_LAUNCHER``) into ``directory`` (root's, 0700) and
    give ``home`` (Chromium's HOME, empty) to ``user``; return the launcher's path.

    ``network=False`` (every capture): Chromium gets an empty network namespace.
    ``network=True`` is only for the operator's own login browser
    (``interactive_browser``): the same user, sandbox and dropped privileges, on
    the machine's network."""
    account = pwd.getpwnam(user)
    os.chown(home, account.pw_uid, account.pw_gid)
    tools = {
        name: shutil.which(name) or f"/usr/bin/{name}" for name in ("chown", "unshare", "setpriv")
    }
    script = os.path.join(directory, "chromium")
    with open(script, "w") as out:
        out.write(
            _LAUNCHER.format(
                user=user,
                uid=account.pw_uid,
                gid=account.pw_gid,
                executable=shutil.which(executable) or executable,
                where="" if network else "in an empty network namespace ",
                netns="" if network else f"{tools['unshare']} --net -- ",
                chown=tools["chown"],
                setpriv=tools["setpriv"],
            )
        )
    os.chmod(script, 0o700)
    return script


@dataclass
class BrowserCapture(PageCapture):
    """A ``PageCapture`` whose requisites are what the browser requested, plus
    what only a browser gives: the rendered DOM, media it tried to load, and
    the screenshot (PNG) with the time it was taken."""

    dom: str = ""
    media_requests: list[FoundMedia] = field(default_factory=list)
    screenshot: bytes | None = None
    screenshot_at: datetime | None = None
    screenshot_size: tuple[int, int] | None = None


class Browser:
    """A Chromium process driven by Playwright, launched on first use and again
    after it died. Safe to share between concurrent captures on one event loop."""

    def __init__(self, settings: BrowserSettings) -> None:
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._lock = asyncio.Lock()
        self._playwright: Any = None
        self._browser: Any = None
        self._home: str | None = None
        self._launcher_dir: str | None = None
        self.launches = 0

    async def _running(self):
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._browser is not None:
                log.warning("the browser died; launching it again")
                await self._quietly(self._browser.close())
            if self._playwright is None:
                from playwright.async_api import async_playwright

                self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(**self._launch_options())
            self.launches += 1
            return self._browser

    def _launch_options(self) -> dict[str, Any]:
        if self._home is None:
            self._home = tempfile.mkdtemp(prefix="warcflow-browser-")
            self._launcher_dir = tempfile.mkdtemp(prefix="warcflow-launcher-")
        executable = self.settings.executable
        if os.geteuid() == 0:
            assert self._launcher_dir is not None
            executable = fenced_launcher(
                self._launcher_dir, executable, self.settings.user, self._home
            )
        return {
            "executable_path": executable,
            "headless": True,
            "args": list(LAUNCH_ARGS),
            "chromium_sandbox": True,
            "env": browser_environment(self._home),
        }

    def slot(self) -> asyncio.Semaphore:
        """One of ``concurrency`` places to render a page; hold it around ``context``."""
        return self._slots

    @asynccontextmanager
    async def context(self) -> AsyncIterator[Any]:
        """A fresh browser context (own cookies, cache, storage), closed after use."""
        browser = await self._running()
        context = await browser.new_context(
            viewport={
                "width": self.settings.viewport_width,
                "height": self.settings.viewport_height,
            },
            service_workers="block",
            accept_downloads=False,
            java_script_enabled=True,
        )
        try:
            yield context
        finally:
            await self._quietly(context.close())

    async def close(self) -> None:
        if self._browser is not None:
            await self._quietly(self._browser.close())
            self._browser = None
        if self._playwright is not None:
            await self._quietly(self._playwright.stop())
            self._playwright = None
        for directory in (self._home, self._launcher_dir):
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        self._home = self._launcher_dir = None

    @staticmethod
    async def _quietly(awaitable) -> None:
        try:
            await asyncio.wait_for(awaitable, 10)
        except Exception:  # noqa: BLE001, S110 - closing something that may be dead already
            pass


LOGIN_ARGS = ("--no-first-run", "--disable-sync", "--disable-default-apps")
"""The operator's login browser (``interactive_browser``): no capture fence, sandbox on."""


class InteractiveBrowser:
    """The operator's login browser: a ``LoginBrowser`` (archivers.sessions.login)."""

    def __init__(self, context: Any) -> None:
        self._context = context
        self._closed = False
        context.on("close", lambda *_: setattr(self, "_closed", True))

    async def show(self, url: str) -> str | None:
        from playwright.async_api import Error

        page = self._context.pages[0] if self._context.pages else None
        try:
            page = page or await self._context.new_page()
            await page.goto(url, timeout=30_000)
        except Error as exc:
            if self._closed:
                raise BrowserClosed() from None
            return str(exc).splitlines()[0][:300]
        return None

    async def cookies(self) -> tuple[Cookie, ...]:
        from playwright.async_api import Error

        if self._closed:
            raise BrowserClosed()
        try:
            found = await self._context.cookies()
        except Error:
            raise BrowserClosed() from None
        return tuple(_cookie_of(c) for c in found)


def _cookie_of(found: dict[str, Any]) -> Cookie:
    """A Playwright cookie as ``archivers.net.cookies`` holds it: a leading dot in
    the domain is a domain cookie (subdomains too), none a host-only cookie."""
    domain = str(found["domain"])
    return Cookie(
        domain=domain.lower().lstrip("."),
        include_subdomains=domain.startswith("."),
        path=str(found.get("path") or "/"),
        secure=bool(found.get("secure")),
        expires=max(0, int(found.get("expires", -1))),  # -1: a session cookie
        name=str(found["name"]),
        value=str(found["value"]),
        http_only=bool(found.get("httpOnly")),
    )


@asynccontextmanager
async def interactive_browser(
    settings: BrowserSettings, plan: LoginPlan, profile: str
) -> AsyncIterator[InteractiveBrowser]:
    """Chromium for the operator to log in with (``warcflow session login``), its
    profile and HOME in ``profile`` (empty, the caller deletes it).

    Not a capture browser: its requests go to the network directly, not through
    the fetcher, and it has no dead proxy or empty network namespace. As root it
    still runs as ``settings.user`` through ``fenced_launcher(network=True)``, and
    the sandbox is on. Headless with DevTools on 127.0.0.1:``plan.port`` only, or
    a window on ``plan.display`` when ``plan.port`` is None."""
    from playwright.async_api import Error, async_playwright

    launcher_dir = tempfile.mkdtemp(prefix="warcflow-launcher-")
    try:
        executable = settings.executable
        if os.geteuid() == 0:
            executable = fenced_launcher(
                launcher_dir, executable, settings.user, profile, network=True
            )
        args = list(LOGIN_ARGS)
        if plan.port is not None:
            args += [f"--remote-debugging-port={plan.port}", "--remote-debugging-address=127.0.0.1"]
        async with async_playwright() as playwright:
            try:
                context = await playwright.chromium.launch_persistent_context(
                    os.path.join(profile, "chromium"),
                    executable_path=executable,
                    headless=not plan.headed,
                    args=args,
                    chromium_sandbox=True,
                    env={**browser_environment(profile), **plan.display},
                    no_viewport=plan.headed,
                    accept_downloads=False,
                    # warcflow.sessions.login handles the signals, then closes it
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                )
            except Error as exc:
                hint = ""
                if plan.headed and os.geteuid() == 0:
                    hint = (
                        f" (as root Chromium runs as {settings.user}, who may not use your "
                        f"display: allow it with `xhost +SI:localuser:{settings.user}` or "
                        "use --remote-debugging-port)"
                    )
                first = str(exc).splitlines()[0][:300]
                raise BrowserUnavailable(
                    f"Chromium ({settings.executable}, WARCFLOW_BROWSER_EXECUTABLE) did not "
                    f"start: {first}{hint}"
                ) from None
            try:
                yield InteractiveBrowser(context)
            finally:
                await Browser._quietly(context.close())
    finally:
        shutil.rmtree(launcher_dir, ignore_errors=True)


async def capture_in_browser(
    browser: Browser, fetcher: Fetcher, url: str, cookies: SessionCookies | None = None
) -> BrowserCapture:
    """Fetch ``url`` (following redirects) and render its final URL in ``browser``.

    Raises CaptureError if the page itself fails, like ``capture_page``; a
    final answer of HTTP 5xx, 408, 425, 429 or a redirect the limit stopped is
    returned without rendering (the caller decides), and so is one that is not
    an HTML document (an image, a PDF: stored as fetched, without a screenshot).
    """
    started_at = fetcher.clock()
    chain = await fetcher.fetch_chain(url, session=cookies)
    page = BrowserCapture(chain=chain, started_at=started_at)
    for exchange in chain:
        page.limits_hit.extend(exchange.limits_hit)
    final = page.final
    if (
        retryable_status(final.status)
        or final.redirect_target()
        or content_type(final.response) not in RENDERED_TYPES
    ):
        page.finished_at = fetcher.clock()
        return page
    session = _Session(browser.settings, fetcher, page, cookies)
    try:
        async with browser.slot():  # waiting for a place is not part of the deadline
            await asyncio.wait_for(session.run(browser), browser.settings.timeout)
    except TimeoutError:
        session.closed = True
        page.close()
        raise FetchUnavailable(
            f"the browser capture of {final.url} took longer than {browser.settings.timeout:g} s",
            reason="browser_timeout",
        ) from None
    except CaptureError:
        session.closed = True
        page.close()
        raise
    except Exception as exc:  # noqa: BLE001 - Playwright's errors: a crashed or hung browser
        session.closed = True
        page.close()
        raise FetchUnavailable(
            f"the browser failed on {final.url}: {exc}".splitlines()[0], reason="browser_error"
        ) from None
    page.finished_at = fetcher.clock()
    return page


def _same_url(a: str, b: str) -> bool:
    try:
        return canonical_url(a) == canonical_url(b)
    except InvalidURL:
        return a == b


class _Session:
    """One page in one context: the route handler and the steps."""

    def __init__(
        self,
        settings: BrowserSettings,
        fetcher: Fetcher,
        page: BrowserCapture,
        cookies: SessionCookies | None = None,
    ) -> None:
        self.settings = settings
        self.cookies = cookies
        """The logged-in session's cookies: the fetcher adds them to every request
        Chromium makes where they apply (Chromium itself never holds them)."""
        self.fetcher = fetcher
        self.capture = page
        self.budget = fetcher.settings.max_requisites
        self.in_flight = 0
        self.last_activity = time.monotonic()
        self.closed = False
        self.main_served = False
        self.seen_media: set[str] = set()
        self.decoded_left = DECODED_PER_PAGE

    async def run(self, browser: Browser) -> None:
        settings, capture = self.settings, self.capture
        async with browser.context() as context:
            await context.route("**/*", self.handle)
            page = await context.new_page()
            await page.goto(
                capture.final.url, wait_until="domcontentloaded", timeout=settings.timeout * 1000
            )
            try:
                await page.wait_for_load_state("load", timeout=settings.idle_timeout * 1000)
            except Exception:  # noqa: BLE001 - Playwright's TimeoutError: go on with what loaded
                capture.limits_hit.append(
                    f"browser: the load event did not fire within {settings.idle_timeout:g} s"
                )
            await self.settle()
            await self.scroll(page)
            capture.dom = await page.content()
            await self.screenshot(page)
            self.closed = True

    async def scroll(self, page) -> None:
        """Scroll a viewport at a time to the bottom (at most ``scroll_steps``),
        letting the network settle after each, so lazy content loads; then back up."""
        for _step in range(self.settings.scroll_steps):
            at_bottom = await page.evaluate(SCROLL_STEP)
            await self.settle()
            if at_bottom:
                break
        else:
            self.capture.limits_hit.append(
                f"browser: scrolled {self.settings.scroll_steps} viewports, not to the bottom"
            )
        await page.evaluate("() => window.scrollTo(0, 0)")
        await self.settle()

    async def settle(self) -> None:
        """Wait until no request has been in flight for ``QUIET`` seconds, counted
        from now at the earliest (what was just done may start requests a moment
        later), at most ``idle_timeout`` (polled: the condition is the handler's
        counters)."""
        self.last_activity = max(self.last_activity, time.monotonic())
        deadline = time.monotonic() + self.settings.idle_timeout
        while time.monotonic() < deadline:
            if self.in_flight == 0 and time.monotonic() - self.last_activity >= QUIET:
                return
            await asyncio.sleep(0.05)

    async def screenshot(self, page) -> None:
        settings = self.settings
        width, height = await page.evaluate(
            "() => [document.documentElement.clientWidth,"
            " Math.max(document.documentElement.scrollHeight, document.body ?"
            " document.body.scrollHeight : 0)]"
        )
        shot: dict[str, Any] = {
            "type": "png",
            "full_page": True,
            "timeout": settings.timeout * 1000,
        }
        if height > settings.max_screenshot_height:
            self.capture.limits_hit.append(
                f"max_screenshot_height={settings.max_screenshot_height}: the page is "
                f"{height} px tall"
            )
            height = settings.max_screenshot_height
            shot["clip"] = {"x": 0, "y": 0, "width": width, "height": height}
        self.capture.screenshot_at = self.fetcher.clock()
        self.capture.screenshot = await page.screenshot(**shot)
        self.capture.screenshot_size = (int(width), int(height))

    # -- every request the browser makes ---------------------------------------------

    async def handle(self, route) -> None:
        request = route.request
        url = request.url
        self.in_flight += 1
        self.last_activity = time.monotonic()
        try:
            await self._handle(route, request, url)
        except Exception as exc:  # noqa: BLE001 - the page closed under us; nothing to answer
            log.debug("route handler for %s: %s", url, exc)
        finally:
            self.in_flight -= 1
            self.last_activity = time.monotonic()

    async def _handle(self, route, request, url: str) -> None:
        capture = self.capture
        if urlsplit(url).scheme not in ("http", "https"):
            await route.abort("blockedbyclient")
            return
        if (
            not self.main_served
            and request.is_navigation_request()
            and _same_url(url, capture.final.url)
        ):
            self.main_served = True  # fetched already, with its redirects
            await self._fulfill(route, capture.final)
            return
        if request.resource_type == "media":
            self._found(url, "browser: media request", "")
            await route.abort("blockedbyclient")
            return
        if self.closed:
            await route.abort("aborted")
            return
        if self.budget <= 0:
            capture.limits_hit.append(
                f"max_requisites={self.fetcher.settings.max_requisites}: {url} not fetched"
            )
            await route.abort("blockedbyclient")
            return
        self.budget -= 1
        headers = await self._headers(request)
        try:
            chain = await self._follow(url, request.method, headers, request.post_data_buffer)
        except CaptureError as exc:
            capture.requisite_failures.append(
                {"url": url, "reason": exc.reason, "message": str(exc)}
            )
            await route.abort("blockedbyclient" if isinstance(exc, Permanent) else "failed")
            return
        if self.closed:  # the capture ended while this request ran: not part of it
            for exchange in chain:
                exchange.close()
            await route.abort("aborted")
            return
        capture.requisites.extend(chain)
        for exchange in chain:
            capture.limits_hit.extend(exchange.limits_hit)
        last = chain[-1]
        mime = content_type(last.response)
        if mime in STREAM_TYPES or media_kind(last.url) == "stream":
            self._found(last.url, "browser: stream manifest request", mime)
        await self._fulfill(route, last)

    def _found(self, url: str, found_by: str, mime: str) -> None:
        url = url.split("#")[0]
        if url not in self.seen_media and len(self.seen_media) < MAX_MEDIA_REQUESTS:
            self.seen_media.add(url)
            self.capture.media_requests.append(FoundMedia(url, media_kind(url, mime), found_by))

    async def _headers(self, request) -> list[tuple[str, str]]:
        headers = []
        for name, value in (await request.all_headers()).items():
            if name.startswith(":") or name.lower() in DROPPED_REQUEST_HEADERS:
                continue
            if name.lower() == "user-agent":
                value = value.replace("HeadlessChrome", "Chrome")
            headers.append((name, value))
        # only what the recording can undo for the browser (no brotli, no zstd)
        headers.append(("Accept-Encoding", "gzip, deflate"))
        return headers

    async def _follow(
        self, url: str, method: str, headers: list[tuple[str, str]], body: bytes | None
    ) -> list[Exchange]:
        """The request and its redirects, each hop checked and recorded."""
        chain: list[Exchange] = []
        current, body = url, body or b""
        try:
            while True:
                exchange = await self.fetcher.request(
                    current, method=method, headers=headers, body=body, session=self.cookies
                )
                chain.append(exchange)
                target = exchange.redirect_target()
                if target is None:
                    return chain
                if len(chain) > self.fetcher.settings.max_redirects:
                    exchange.limits_hit.append(
                        f"max_redirects={self.fetcher.settings.max_redirects}"
                    )
                    return chain
                try:
                    validate_url(target)
                except InvalidURL as exc:
                    raise PolicyRefused(
                        f"redirect from {current} to a URL that is refused: {exc}",
                        reason="redirect_refused",
                    ) from None
                if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
                    method, body = "GET", b""
                current = target
        except BaseException:
            for exchange in chain:
                exchange.close()
            raise

    async def _fulfill(self, route, exchange: Exchange) -> None:
        response = exchange.response
        headers: dict[str, str] = {}
        for name, value in response.headers:
            key = name.lower()
            if key in DROPPED_RESPONSE_HEADERS:
                continue
            joiner = "\n" if key == "set-cookie" else ", "
            headers[key] = f"{headers[key]}{joiner}{value}" if key in headers else value
        limit = min(self.fetcher.settings.max_response_bytes, self.decoded_left)
        body = decoded_body(response, limit)
        self.decoded_left -= len(body)
        if len(body) >= limit and response.header("content-encoding"):
            self.capture.limits_hit.append(
                f"decoded_limit={limit}: {exchange.url} decodes to more; the browser got "
                "the first bytes (the WARC keeps the response as served)"
            )
        await route.fulfill(status=response.status or 502, headers=headers, body=body)
