"""ReplayWeb.page, served on loopback, driven in Debian's chromium: what a person sees.

``Player(directory)`` puts the pinned player (infra/replaywebpage.py) and the
packages to open in ``directory`` and serves it with a Range-capable server
(tests/support/rangeserver.py). ``Player.open(page, name, url, ts, text)``
opens ``/?source=<package>#view=replay&url=…&ts=…`` as a person would, waits
for the archived page's text in the replay frame and returns a ``Replay``:

- ``frame``: the frame showing the archived page (``…/w/<coll>/…mp_/<url>``);
- ``info``: the player's own collection info, from its service worker's API
  (``./w/api/c/<coll>?all=1``): ``title``, ``pages``, ``verify``;
- ``verification``: the rows of the player's IndexedDB store ``verification``
  in ``db:<coll>``. The ``signature`` row's ``matched`` is the player's verdict
  on the package signature: ``verify.numValid`` counts that row whatever its
  verdict, so it proves nothing alone (docs/decisions/0010-wacz-signing.md).

The collection id is ReplayWeb.page's own: ``id-`` + the first 12 hex digits of
the SHA-256 of the package's absolute URL (replayweb.page ``sourceToId``).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.observe import ARTIFACTS
from tests.support.rangeserver import RangeServer
from tests.support.tools import replaywebpage

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    # nothing leaves the machine: every address but loopback goes to a closed local port
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1;localhost;[::1]",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]

VERIFICATION_ROWS = """(coll) => new Promise((resolve, reject) => {
  const opened = indexedDB.open('db:' + coll);
  opened.onerror = () => reject(String(opened.error));
  opened.onsuccess = () => {
    const db = opened.result;
    if (!db.objectStoreNames.contains('verification')) { db.close(); resolve([]); return; }
    const all = db.transaction('verification').objectStore('verification').getAll();
    all.onsuccess = () => { db.close(); resolve(all.result); };
    all.onerror = () => { db.close(); reject(String(all.error)); };
  };
})"""


def _loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )


def collection_id(source_url: str) -> str:
    return "id-" + hashlib.sha256(source_url.encode()).hexdigest()[:12]


@contextlib.contextmanager
def chromium():
    """Debian's chromium, headless, driven by Playwright (no bundled browser)."""
    if not Path(CHROMIUM).exists():
        raise AssertionError("Debian's chromium is missing: infra/system-deps.sh installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Replay:
    frame: Any
    info: dict[str, Any]
    verification: list[dict[str, Any]]
    collection: str
    foreign: list[str]  # requests the page made to anything but loopback (refused)

    @property
    def signature_matched(self) -> bool | None:
        """The player's verdict on the package signature (None: it made none)."""
        rows = [r for r in self.verification if r.get("id") == "signature"]
        return rows[0].get("matched") if rows else None

    def playing(self, seconds: float = 1.0, timeout: float = 30.0) -> dict[str, Any]:
        """Start the page's <video> (muted, as autoplay allows) and wait until its clock
        has advanced ``seconds``; its state then."""
        frame = self.frame
        frame.wait_for_selector("video", timeout=timeout * 1000)
        start = frame.evaluate(
            """async () => { const v = document.querySelector('video'); v.muted = true;
                try { await v.play(); } catch (e) { return {error: String(e)}; }
                return {t: v.currentTime}; }"""
        )
        assert "error" not in start, start
        frame.wait_for_function(
            f"document.querySelector('video').currentTime > {start['t'] + seconds}",
            timeout=timeout * 1000,
        )
        return frame.evaluate(
            """() => { const v = document.querySelector('video');
                return {currentTime: v.currentTime, videoWidth: v.videoWidth,
                        videoHeight: v.videoHeight, error: v.error && v.error.code,
                        paused: v.paused, src: v.currentSrc}; }"""
        )


class Player:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.app = replaywebpage()
        self.app.serve_files(directory)
        self.server = RangeServer(directory)

    def __enter__(self) -> Player:
        self.server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def add(self, package: Path, name: str | None = None) -> str:
        """Serve ``package``; its URL."""
        name = name or package.name
        shutil.copyfile(package, self.directory / name)
        return self.server.url(f"/{name}")

    def open(
        self, browser, source: str, url: str, ts: str, text: str, timeout: float = 60.0
    ) -> Replay:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        console: list[str] = []
        context.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        foreign: list[str] = []
        context.on(
            "request",
            lambda r: None if _loopback(r.url) else foreign.append(r.url),
        )
        page = context.new_page()
        page.on("console", lambda m: console.append(f"page {m.type}: {m.text}"))
        page.goto(self.server.url(f"/?source={source}#view=replay&url={url}&ts={ts}"))
        coll = collection_id(source)
        deadline = time.monotonic() + timeout
        frame = None
        while time.monotonic() < deadline:
            frame = next((f for f in page.frames if "mp_/" in f.url and f.url.endswith(url)), None)
            if frame is not None and frame.locator(f"text={text}").count():
                break
            page.wait_for_timeout(250)  # Playwright processes the frames' events meanwhile
        else:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"replaywebpage-{coll}.png"))
            raise AssertionError(
                f"ReplayWeb.page did not show {text!r} for {url} at {ts} within {timeout:g} s; "
                f"frames: {[f.url for f in page.frames]}; console: {console[-30:]}; "
                f"requests: {self.server.log[-40:]}"
            )
        info = page.evaluate("async (c) => (await fetch('./w/api/c/' + c + '?all=1')).json()", coll)
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = page.evaluate(VERIFICATION_ROWS, coll)
            if any(r.get("id") == "signature" for r in rows):
                break
            page.wait_for_timeout(250)
        return Replay(frame, info, rows, coll, foreign)
