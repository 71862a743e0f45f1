"""Running the viewer: the web app, the catalog feed, and the replay server beside it.

``Viewer`` composes the parts from typed settings (the entry point builds them):
the SQLite catalog under ``state_dir``, a thread following the captures topic
into it, the FastAPI app served by uvicorn, and the pywb replay server as a
child process on its own origin, stopped with the viewer.

A download of evidence is a custody event for the ledger. It goes through a
durable outbox under ``state_dir/outbox`` (``streams.clients.outbox``): on
disk before the response, sent by a thread of its own once the broker takes
it, whatever the broker does meanwhile and however often the viewer is
restarted — the download never waits for the broker, and the record is never
dropped.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass

from archivers.clock import utc_now
from archivers.custody.audit import Trust
from archivers.store.base import ObjectStore, StoreSettings
from streams.clients.feed import CaptureFeed, FeedEvent
from streams.clients.outbox import Outbox
from streams.clients.producer import Submitter
from streams.messages.capture import submit_requests
from streams.messages.seal import NO_KEYS, Seals
from streams.settings import KafkaAccess
from streams.topics import TopicNames
from viewer.accounts import AccountError, Accounts
from viewer.app import create_app
from viewer.catalog import Catalog
from viewer.phashes import HashRows
from viewer.settings import ViewerSettings
from viewer.textindex import TextRows

log = logging.getLogger("warcflow.viewer")
STOP_FLUSH_SECONDS = 10.0
"""How long a stopping viewer lets its outbox send what it keeps (then it stays on disk)."""

REPLAY_CSP = (
    "default-src 'unsafe-eval' 'unsafe-inline' 'self' data: blob: mediastream:; "
    "connect-src 'self' data: blob:; form-action 'self'; frame-ancestors 'self' {viewer}"
)
"""pywb's replay policy without its ``ws: wss:``: an archived page's scripts may
connect to the replay origin only, never open a WebSocket (or a fetch) to
another host from the reader's browser — which would tell whoever runs it that
the page is being viewed now, and from where (review F12)."""


@dataclass
class Viewer:
    """The viewer's parts. ``store`` serves the app and the catalog (built by the
    entry point's wiring); ``store_settings`` are handed to the replay child,
    which makes its own client (``archivers.store.s3.client``) in its process."""

    settings: ViewerSettings
    store: ObjectStore
    store_settings: StoreSettings
    kafka: KafkaAccess
    names: TopicNames
    trust: Trust | None = None
    """What the capture pages' audits trust (the configuration's; never the bucket's)."""
    seals: Seals = NO_KEYS
    """The viewer role's MAC key: its download events are sealed with it."""

    def __post_init__(self) -> None:
        # the perceptual hashes (viewer.phashes) and the text index (viewer.textindex)
        # are parts of the catalog: same file, same transaction as the event
        self.catalog = Catalog(
            self.settings.state_dir / "catalog.sqlite", parts=(HashRows(), TextRows())
        )
        self.feed = CaptureFeed(self.kafka, self.names.captures)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._replay: subprocess.Popen | None = None
        self._submitter: Submitter | None = None
        self._submit_lock = threading.Lock()
        self.outbox = Outbox(self.settings.state_dir / "outbox", self._produce)
        self._sender: threading.Thread | None = None
        # what the replay child sends to read /cdx when reading needs an account
        self.replay_token = secrets.token_hex(24)
        self.accounts = Accounts(self.settings.accounts_path)

    # -- parts ------------------------------------------------------------------

    def submit(
        self,
        urls: list[str],
        tags: tuple[str, ...],
        note: str | None,
        *,
        operator: str | None = None,
        case_id: str | None = None,
        purpose: str | None = None,
        mode: str = "auto",
        account: str = "",
    ) -> list[dict]:
        """Validate all, then produce all (like ``warcflow submit``); ValueError lists
        every refused URL (or a bad field or ``mode``) and nothing is produced. The
        operator is who the form or API caller says (by default its account); the
        request's source names the account that submitted (``viewer:NAME``)."""
        requests, problems = submit_requests(
            [(f"URL {n}", url) for n, url in enumerate(urls, 1)],
            submitted_at=utc_now(),
            source=f"viewer:{account}" if account else "viewer",
            tags=tags,
            note=note,
            operator=operator,
            case_id=case_id,
            purpose=purpose,
            mode=mode,
        )
        if problems or not requests:
            raise ValueError("\n".join(problems) or "no URLs given")
        with self._submit_lock:
            if self._submitter is None:
                self._submitter = Submitter(self.kafka, self.names)
            done = self._submitter.submit(requests)
        return [
            {
                "request_id": d.request.request_id,
                "url": d.request.url,
                "mode": d.request.mode,
                "topic": self.names.ingest,
                "partition": d.partition,
                "offset": d.offset,
            }
            for d in done
        ]

    def record(self, event) -> None:
        """Keep a custody event (a download) for the ledger's topic in the outbox
        (on disk when this returns); the sender thread produces it."""
        from streams.messages.custody import custody_json

        try:
            # sealed now: what waits in the outbox is what the ledger will check
            sealed = self.seals.seal(self.names.custody, custody_json(event))
            self.outbox.put(self.names.custody, (event.capture_id or "").encode(), sealed)
        except ValueError as exc:  # no viewer MAC key: the ledger would refuse it
            log.error("custody event %s NOT recorded: %s", event.event_id, exc)
        except OSError as exc:  # the viewer's disk: the download goes on, loudly
            log.error("custody event %s NOT recorded: outbox: %s", event.event_id, exc)
        self._start_sender()

    def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        """One message to the broker, acknowledged (the outbox's sender calls it)."""
        with self._submit_lock:
            if self._submitter is None:
                self._submitter = Submitter(self.kafka, self.names)
            submitter = self._submitter
        try:
            submitter.resend(topic, key, value, [])
        except Exception:
            with self._submit_lock:  # a fresh connection next time
                if self._submitter is submitter:
                    self._submitter = None
            submitter.close()
            raise

    def _start_sender(self) -> None:
        with self._submit_lock:
            if self._sender is None:
                self._sender = threading.Thread(
                    target=self.outbox.run,
                    args=(self._stop.is_set,),
                    name="custody-outbox",
                    daemon=True,
                )
                self._sender.start()

    def app(self):
        return create_app(
            self.settings,
            self.catalog,
            self.store,
            self.submit,
            self.record,
            self.trust,
            accounts=self.accounts,
            replay_token=self.replay_token,
        )

    def accounts_problem(self) -> str | None:
        """What the log should say about the accounts at start (None: all is well)."""
        try:
            found = self.accounts.all()
        except AccountError as exc:
            return f"{exc}: nobody can log in"
        if not found:
            return (
                f"no accounts in {self.settings.accounts_path}: nobody can submit or "
                "download; add one with `warcflow user add NAME --role admin`"
            )
        return None

    def _apply(self, items: list[FeedEvent]) -> None:
        self.catalog.apply_batch(items, self.store)

    def _follow(self) -> None:
        try:
            again = self.catalog.retry_quarantined(self.store)
            if again:
                log.info("catalog: %d quarantined event(s) applied now", again)
        except Exception as exc:  # noqa: BLE001 - the store away: they stay quarantined
            log.warning("catalog: quarantined events not retried (%s)", exc)
        self.feed.follow(self.catalog.offsets, self._apply, self._stop.is_set)

    def start_feed(self) -> None:
        """Follow the captures topic into the catalog, and send what the outbox
        kept (from this run or an earlier one)."""
        self._thread = threading.Thread(target=self._follow, name="capture-feed", daemon=True)
        self._thread.start()
        self._start_sender()

    def start_replay(self) -> None:
        config = {
            "host": self.settings.replay_host,
            "port": self.settings.replay_port,
            "collection": self.settings.collection,
            "cdx_url": f"http://{_connect_host(self.settings.host)}:{self.settings.port}/cdx",
            "cdx_token": self.replay_token,
            "csp": REPLAY_CSP.format(viewer=self.settings.viewer_base),
            "memento_base": self.settings.viewer_base,  # mementos' TimeGate and TimeMap
            "s3": {
                "endpoint": self.store_settings.endpoint,
                "bucket": self.store_settings.bucket,
                "access_key": self.store_settings.access_key,
                "secret_key": self.store_settings.secret_key,
                "region": self.store_settings.region,
            },  # StoreSettings fields
        }
        path = self.settings.state_dir / "replay.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the S3 key
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle)
        self._replay = subprocess.Popen(
            [sys.executable, "-m", "viewer.replay", "--config", str(path)],
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )

    def wait_for_replay(self, timeout: float = 60.0) -> None:
        url = f"http://{_connect_host(self.settings.replay_host)}:{self.settings.replay_port}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._replay is not None and self._replay.poll() is not None:
                raise RuntimeError(f"the replay server exited with {self._replay.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the replay server did not answer on {url} within {timeout:g} s")

    def stop(self) -> None:
        # a download just made gives its custody event a few seconds to reach the
        # broker before the producer is closed under the sender (which then left
        # it on disk until the next start, with a misleading broker warning)
        if self._sender is not None and self._sender.is_alive():
            if not self.outbox.flush(STOP_FLUSH_SECONDS):
                log.warning(
                    "stopping with %d custody event(s) kept in the outbox: the next "
                    "start sends them",
                    len(self.outbox.pending()),
                )
        self._stop.set()
        self.outbox.wake()
        if self._sender is not None:
            self._sender.join(STOP_FLUSH_SECONDS)
        if self._replay is not None and self._replay.poll() is None:
            self._replay.terminate()
            try:
                self._replay.wait(10)
            except subprocess.TimeoutExpired:
                self._replay.kill()
        if self._submitter is not None:
            self._submitter.close()
        self.feed.close()

    # -- the whole thing ----------------------------------------------------------

    def serve(self) -> None:
        """Run until interrupted: feed, replay, and the app on host:port (blocking)."""
        import uvicorn

        problem = self.accounts_problem()
        if problem:
            log.warning("%s", problem)
        self.start_feed()
        self.start_replay()
        try:
            server = uvicorn.Server(
                uvicorn.Config(
                    self.app(),
                    host=self.settings.host,
                    port=self.settings.port,
                    log_level="warning",
                    access_log=False,
                    lifespan="off",
                    # X-Forwarded-* are believed by viewer/auth.py from the trusted
                    # proxies only, not by uvicorn from any loopback client
                    proxy_headers=False,
                )
            )
            threading.Thread(target=self._announce, daemon=True).start()
            server.run()
        finally:
            self.stop()

    def _announce(self) -> None:
        try:
            self.wait_for_replay()
        except RuntimeError as exc:
            log.error("%s", exc)
            return
        log.info(
            "viewer ready: %s/ (replay %s/, catalog %s)",
            self.settings.viewer_base,
            self.settings.replay_base,
            self.catalog.counts(),
        )


def _die_with_parent() -> None:
    """In the replay child, before exec: get SIGTERM when the viewer process dies,
    however it dies (uvicorn re-raises SIGTERM after its shutdown, which skips
    ``finally`` blocks), so no replay server outlives its viewer. Linux only."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)  # noqa: S104
