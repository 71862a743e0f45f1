"""Typed, frozen settings, read once at the entry point.

Sources, later ones winning: built-in defaults < the TOML file (``--config`` or
``WARCFLOW_CONFIG``) < ``WARCFLOW_*`` environment variables < command-line
flags of a subcommand. Nothing below ``warcflow/`` reads ``os.environ``: each
part gets the frozen settings type it defines (``FetchSettings``,
``StoreSettings``, ``StreamSettings``, ``ServiceSettings``).

``OPTIONS`` is the single table of every setting; docs/configuration.md is
checked against it by the tests. Credentials that the settings do not name
come from the local stack's credentials file, per role
(``warcflow.credentials``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archivers.capture.browser import BrowserSettings
from archivers.capture.modes import SCRIPT_HEAVY_SITES, parse_sites
from archivers.errors import InvalidURL
from archivers.media.archiver import MediaSettings
from archivers.net.addresses import AllowRule, parse_allow_list
from archivers.net.fetcher import DEFAULT_USER_AGENT, FetchSettings
from archivers.net.holds import HoldSettings
from archivers.net.politeness import PolitenessSettings
from archivers.sessions.state import state_path
from archivers.store.base import StoreSettings
from infra.settings import ServiceSettings
from streams.keys import spread_sites
from streams.settings import KafkaAccess, RetryPolicy, StreamSettings
from streams.watchers.definitions import InvalidWatch, watches_from_setting
from streams.watchers.settings import WatchSettings
from viewer.settings import ViewerSettings


class SettingsError(Exception):
    """A setting has a value that cannot be used; the message names it."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise ValueError(f"{text!r} must be greater than 0")
        return value

    return parse


def _lock_mode(text: str) -> str:
    value = text.strip().upper()
    if value in ("", "OFF", "NONE"):
        return ""
    if value not in ("GOVERNANCE", "COMPLIANCE"):
        raise ValueError(f"{text!r} is not governance, compliance or off")
    return value


def _tri_state(text: str) -> str:
    value = text.strip().lower()
    if value == "auto":
        return value
    return "true" if _bool(value) else "false"


def _webhook_url(text: str) -> str:
    value = text.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host name, or empty")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _delays(text: str) -> tuple[float, ...]:
    values = tuple(float(part) for part in text.split(",") if part.strip())
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"{text!r} is not a list of positive seconds")
    return values


def _tsa_list(text: str) -> tuple[tuple[str, str], ...]:
    """``local`` or ``URL CAFILE`` entries → (url or "local", cafile) pairs."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "local":
            out.append(("local", ""))
            continue
        url, _, cafile = part.partition(" ")
        if not url.startswith(("http://", "https://")) or not cafile.strip():
            raise ValueError(f"{part!r} is not `local` or `URL CAFILE`")
        out.append((url, cafile.strip()))
    return tuple(out)


def _address(text: str) -> str:
    """HOST:PORT (HOST may be empty, a name, IPv4, or [IPv6]), or empty."""
    if not text:
        return ""
    _host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return text


def _count(text: str) -> int:
    """A whole number, 0 or more."""
    value = int(text)
    if value < 0:
        raise ValueError(f"{text!r} must be 0 or more")
    return value


def _mac_keys(text: str) -> tuple:
    from streams.messages.seal import parse_keys

    return parse_keys(text)


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"{text!r} must be 0 or more")
    return value


@dataclass(frozen=True)
class Option:
    env: str
    toml: str
    default: str
    parse: Callable[[str], Any]
    help: str
    secret: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "WARCFLOW_HOME",
        "home",
        ".warcflow",
        Path,
        "State directory of the local stack: data, logs, pid files.",
    ),
    Option(
        "WARCFLOW_CACHE",
        "cache",
        "~/.cache/warcflow",
        Path,
        "Per-machine cache of downloaded and built services (Kafka jars, S3 server) and "
        "of the tests' outside tools (ReplayWeb.page, the WARC validators).",
    ),
    Option(
        "WARCFLOW_LOG_LEVEL",
        "log_level",
        "info",
        str,
        "Log level of the worker: debug, info, warn, error.",
    ),
    Option(
        "WARCFLOW_OPERATOR",
        "submit.operator",
        "",
        str,
        "Who submits, as `warcflow submit` records it in each capture (`--operator` wins), "
        "and who custody commands act as; empty: nobody is named (the login name is never "
        "recorded: captures and exports are shown to others).",
    ),
    Option(
        "WARCFLOW_KAFKA_BOOTSTRAP",
        "kafka.bootstrap",
        "127.0.0.1:9092",
        str,
        "Kafka bootstrap servers, comma-separated host:port. `warcflow up` listens here.",
    ),
    Option(
        "WARCFLOW_KAFKA_USER",
        "kafka.user",
        "",
        str,
        "Kafka user (SASL/SCRAM-SHA-512) this process connects as, whatever the command. "
        "Empty: the user of the command's role from WARCFLOW_CREDENTIALS, or none (a broker "
        "without authentication) if there is no such file.",
    ),
    Option(
        "WARCFLOW_KAFKA_PASSWORD",
        "kafka.password",
        "",
        str,
        "Password of WARCFLOW_KAFKA_USER.",
        secret=True,
    ),
    Option(
        "WARCFLOW_CREDENTIALS",
        "credentials",
        "",
        str,
        "File of every role's Kafka and S3 credentials (JSON, mode 0600), made with random "
        "secrets by `warcflow up` on its first start (default HOME/credentials.json). "
        "Commands take their role's from it unless the settings name credentials.",
    ),
    Option(
        "WARCFLOW_MAC_KEYS",
        "kafka.mac_keys",
        "",
        _mac_keys,
        "The keys this process seals internal messages with and opens them with "
        "(docs/formats.md, Seals): comma-separated ROLE:HEX, ROLE one of worker, operator, "
        "viewer. A process seals with the first key of its own role and accepts every key "
        "given, so the worker is given every role's (the newest first, then the one before "
        "a rotation). Empty: the keys of the credentials file (the command's role's, and "
        "for the worker every role's).",
        secret=True,
    ),
    Option(
        "WARCFLOW_TOPIC_PREFIX",
        "kafka.topic_prefix",
        "warcflow",
        str,
        "Prefix of every topic name and of the consumer group.",
    ),
    Option(
        "WARCFLOW_PARTITIONS",
        "kafka.partitions",
        "4",
        _positive(int),
        "Partitions of topics warcflow creates (the most worker processes that share work).",
    ),
    Option(
        "WARCFLOW_SPREAD_SITES",
        "kafka.spread_sites",
        "",
        lambda text: tuple(sorted(spread_sites(_names(text)))),
        "Sites (registrable domains, comma-separated) whose URLs are spread over every "
        "partition instead of going to the one worker process that owns the site "
        "(docs/decisions/0026): for a platform one process cannot keep up with. N worker "
        "processes then press N × WARCFLOW_FETCH_PER_HOST on it: set that knowing so.",
    ),
    Option(
        "WARCFLOW_REPLICATION",
        "kafka.replication",
        "1",
        _positive(int),
        "Replication factor of the topics warcflow creates (3 on a real cluster; then "
        "min.insync.replicas is 2).",
    ),
    Option(
        "WARCFLOW_S3_ENDPOINT",
        "s3.endpoint",
        "http://127.0.0.1:9000",
        str,
        "S3 endpoint URL. `warcflow up` listens here. Empty for AWS S3 itself.",
    ),
    Option(
        "WARCFLOW_S3_BUCKET",
        "s3.bucket",
        "warcflow",
        str,
        "Bucket holding WARCs, manifests and media.",
    ),
    Option(
        "WARCFLOW_S3_ACCESS_KEY",
        "s3.access_key",
        "",
        str,
        "S3 access key this process uses, whatever the command. Empty: the access key of "
        "the command's role from WARCFLOW_CREDENTIALS, or boto3's own (AWS_* variables, "
        "~/.aws, an instance role) if there is no such file.",
    ),
    Option(
        "WARCFLOW_S3_SECRET_KEY",
        "s3.secret_key",
        "",
        str,
        "Secret key of WARCFLOW_S3_ACCESS_KEY.",
        secret=True,
    ),
    Option("WARCFLOW_S3_REGION", "s3.region", "us-east-1", str, "S3 region name."),
    Option(
        "WARCFLOW_S3_LOCK_MODE",
        "s3.lock_mode",
        "governance",
        _lock_mode,
        "Object Lock of the bucket's default retention, which the server applies to every "
        "new version: governance, compliance (for evidence: nobody can shorten it on MinIO "
        "or AWS, root included) or off. Set on the bucket by `warcflow up` / `warcflow "
        "provision`; a locked version cannot be deleted until its retention ends.",
    ),
    Option(
        "WARCFLOW_S3_LOCK_DAYS",
        "s3.lock_days",
        "3650",
        _positive(int),
        "Days a stored version stays locked (the bucket's default retention).",
    ),
    Option(
        "WARCFLOW_S3_SERVER_BIN",
        "s3.server_bin",
        "",
        str,
        "A versitygw binary to use instead of building one (local stack only).",
    ),
    Option(
        "WARCFLOW_FETCH_ALLOW",
        "fetch.allow",
        "",
        str,
        "Address-policy allow-list: comma-separated IP:port, host:port or CIDR entries "
        "that may be fetched although private or loopback (tests, private deployments).",
    ),
    Option(
        "WARCFLOW_FETCH_CONNECT_TIMEOUT",
        "fetch.connect_timeout",
        "10",
        _positive(float),
        "Seconds to wait for a TCP/TLS connection.",
    ),
    Option(
        "WARCFLOW_FETCH_READ_TIMEOUT",
        "fetch.read_timeout",
        "30",
        _positive(float),
        "Seconds to wait for the next bytes of a response.",
    ),
    Option(
        "WARCFLOW_FETCH_TOTAL_TIMEOUT",
        "fetch.total_timeout",
        "120",
        _positive(float),
        "Deadline in seconds for one whole response (slow-drip servers).",
    ),
    Option(
        "WARCFLOW_FETCH_MAX_BYTES",
        "fetch.max_bytes",
        str(64 * 1024 * 1024),
        _positive(int),
        "Largest response kept, in bytes; longer ones are kept truncated and marked.",
    ),
    Option(
        "WARCFLOW_FETCH_MAX_REDIRECTS",
        "fetch.max_redirects",
        "10",
        int,
        "Redirects followed per request.",
    ),
    Option(
        "WARCFLOW_FETCH_MAX_REQUISITES",
        "fetch.max_requisites",
        "150",
        int,
        "Page requisites (images, CSS, JS, fonts) fetched per page.",
    ),
    Option(
        "WARCFLOW_FETCH_USER_AGENT",
        "fetch.user_agent",
        DEFAULT_USER_AGENT,
        str,
        "User-Agent header of the fetcher.",
    ),
    Option(
        "WARCFLOW_FETCH_VERIFY_TLS",
        "fetch.verify_tls",
        "true",
        _bool,
        "Refuse pages whose TLS certificate does not verify.",
    ),
    Option(
        "WARCFLOW_FETCH_CA_FILE",
        "fetch.ca_file",
        "",
        str,
        "A PEM file of CA certificates the fetcher trusts besides the system's (a private "
        "CA, tests); empty: the system's only.",
    ),
    Option(
        "WARCFLOW_FETCH_MAX_CONNECTIONS",
        "fetch.max_connections",
        "64",
        _positive(int),
        "Requests a worker process has open at once, over all hosts.",
    ),
    Option(
        "WARCFLOW_FETCH_PER_HOST",
        "fetch.per_host",
        "8",
        _positive(int),
        "Requests a worker process has open at once to one host.",
    ),
    Option(
        "WARCFLOW_FETCH_HOST_DELAY",
        "fetch.host_delay",
        "0",
        _not_negative,
        "Least seconds between the starts of two requests to one host (politeness).",
    ),
    Option(
        "WARCFLOW_FETCH_HOLD_DEFAULT",
        "fetch.hold_default",
        "30",
        _not_negative,
        "Seconds every worker leaves a host alone after it answered 429 without a "
        "Retry-After (with one: as long as it says).",
    ),
    Option(
        "WARCFLOW_FETCH_HOLD_MAX",
        "fetch.hold_max",
        "3600",
        _not_negative,
        "Longest hold in seconds, whatever a Retry-After says.",
    ),
    Option(
        "WARCFLOW_FETCH_HOLD_WAIT",
        "fetch.hold_wait",
        "10",
        _not_negative,
        "A request to a host on hold for at most this many seconds waits; a longer "
        "hold sends its capture to the retry topic, due when the hold ends.",
    ),
    Option(
        "WARCFLOW_MEDIA_MAX_BYTES",
        "media.max_bytes",
        str(4 * 1024**3),
        _positive(int),
        "Largest media file captured, in bytes; larger ones are refused (media_too_large).",
    ),
    Option(
        "WARCFLOW_MEDIA_MAX_DURATION",
        "media.max_duration",
        "14400",
        _positive(float),
        "Longest media captured, in seconds; longer ones are refused (media_too_long).",
    ),
    Option(
        "WARCFLOW_MEDIA_MAX_REQUESTS",
        "media.max_requests",
        "5000",
        _positive(int),
        "Most HTTP requests one media download makes (playlists, keys, segments, API "
        "calls); more are refused (media_too_many_requests).",
    ),
    Option(
        "WARCFLOW_MEDIA_TIMEOUT",
        "media.timeout",
        "1800",
        _positive(float),
        "Deadline in seconds for one media response (a whole progressive download).",
    ),
    Option(
        "WARCFLOW_MEDIA_PER_PAGE",
        "media.per_page",
        "20",
        int,
        "Media items taken from one page (0: do not capture media).",
    ),
    Option(
        "WARCFLOW_MEDIA_DERIVE",
        "media.derive",
        "true",
        _bool,
        "Also store a browser-playable MP4 when the original does not play in browsers.",
    ),
    Option(
        "WARCFLOW_MEDIA_HASHES",
        "media.hashes",
        "true",
        _bool,
        "Compute perceptual hashes of every video (vPDQ, centre-crop PDQ, Chromaprint of the "
        "audio) for `warcflow similar`.",
    ),
    Option(
        "WARCFLOW_WORKER_CONCURRENCY",
        "worker.concurrency",
        "16",
        _positive(int),
        "Captures a worker process runs at the same time (their requests share the "
        "WARCFLOW_FETCH_* connection bounds).",
    ),
    Option(
        "WARCFLOW_WORKER_PROCESSES",
        "worker.processes",
        "0",
        _count,
        "Capture processes `warcflow worker` runs, each a member of the consumer group, "
        "under one supervisor that restarts a crashed one (docs/decisions/"
        "0023-worker-processes.md); 0: one per core (os.cpu_count(), at most "
        "WARCFLOW_PARTITIONS); 1: the worker "
        "itself, no supervisor.",
    ),
    Option(
        "WARCFLOW_WORKER_DRAIN",
        "worker.drain",
        "20",
        _positive(float),
        "Seconds a worker told to stop (SIGTERM, Ctrl-C) lets the captures in flight "
        "finish; then it exits, within 5 s more, and what is unfinished is redelivered. "
        "Give the orchestrator's grace period more than this.",
    ),
    Option(
        "WARCFLOW_WORKER_METRICS",
        "worker.metrics",
        "",
        _address,
        "HOST:PORT where `warcflow worker` serves /metrics (Prometheus) and /healthz; "
        "empty: not served (`warcflow up --agents` uses 127.0.0.1:9464).",
    ),
    Option(
        "WARCFLOW_CANARY_URL",
        "worker.canary_url",
        "",
        str,
        "A known video URL the worker captures (storing nothing) on a schedule, so a broken "
        "yt-dlp extractor shows in warcflow_canary_ok and the log; empty: no canary.",
    ),
    Option(
        "WARCFLOW_CANARY_EVERY",
        "worker.canary_every",
        "3600",
        _positive(float),
        "Seconds between two canary captures.",
    ),
    Option(
        "WARCFLOW_MEDIA_CONCURRENCY",
        "worker.media_concurrency",
        "2",
        _positive(int),
        "Media downloads a worker process runs at the same time.",
    ),
    Option(
        "WARCFLOW_LEDGER_KEY",
        "ledger.key",
        "",
        str,
        "PEM file of the Ed25519 key that signs ledger heads (made, mode 0600, if missing; "
        "default HOME/ledger/head-key.pem). Every worker that can hold the ledger needs it.",
    ),
    Option(
        "WARCFLOW_REVISITS",
        "capture.revisits",
        "true",
        _bool,
        "Write a requisite (script, stylesheet, font, image; never the page itself) that an "
        "earlier capture stored as a WARC revisit record pointing at that original, found "
        "through the payload index all workers share (docs/formats.md, decision 0025). "
        "false: every capture's WARC holds every payload in full.",
    ),
    Option(
        "WARCFLOW_SESSION_VAULT",
        "sessions.vault",
        "",
        str,
        "The encrypted file of logged-in sessions (docs/sessions.md; default "
        "HOME/sessions/vault). Only the worker and `warcflow session` open it; the viewer "
        "reads only the plain state file beside it (VAULT.state.json, no secret) for its "
        "sessions page and banner: give the viewer's machine that file alone.",
    ),
    Option(
        "WARCFLOW_SESSION_KEY",
        "sessions.key",
        "",
        str,
        "File of the 256-bit key the session vault is encrypted with (made, mode 0600, by "
        "the first `warcflow session add`; default HOME/keys/session-vault.key). Keep it "
        "with the worker and the operator only: never on the viewer's machine.",
    ),
    Option(
        "WARCFLOW_SESSION_WEBHOOK",
        "sessions.webhook",
        "",
        _webhook_url,
        "http(s) URL a worker POSTs a JSON event to when it marks a session expired or "
        "challenged (docs/sessions.md); sent in the background, 5 s a try, 3 tries. Empty: "
        "none. Masked by `warcflow config` (such URLs often hold a token).",
        secret=True,
    ),
    Option(
        "WARCFLOW_LEDGER_HEAD_EVERY",
        "ledger.head_every",
        "60",
        _positive(float),
        "Seconds between two signed ledger heads (only when entries were added).",
    ),
    Option(
        "WARCFLOW_LEDGER_MAX_SKEW",
        "ledger.max_skew",
        "300",
        _positive(float),
        "Seconds a ledger head's signer time may differ from its earliest TSA time; "
        "audit and verify fail a head beyond it (reason `skew`: back-dated, or a wrong "
        "clock). Heads are stamped as they are signed.",
    ),
    Option(
        "WARCFLOW_TRUST",
        "ledger.trust",
        "",
        str,
        "A trust file (as `warcflow ledger key --json` prints it) whose ledger keys and TSA "
        "CAs audits trust besides this machine's own key file and WARCFLOW_TSA's CAs: "
        "the viewer's audits, and old keys after a rotation. Keys and CAs in the bucket "
        "are never trusted.",
    ),
    Option(
        "WARCFLOW_TSA",
        "ledger.tsa",
        "local",
        _tsa_list,
        "Time-stamping authorities that stamp each ledger head (all of them) and the "
        "signature of each export package (the first that answers), comma-separated: "
        "`local` (an OpenSSL TSA under HOME/tsa, for offline use) or `URL CAFILE` (an RFC "
        "3161 TSA and the CA certificate its tokens chain to). Use two or more in production.",
    ),
    Option(
        "WARCFLOW_FIXITY_EVERY",
        "ledger.fixity_every",
        "86400",
        _not_negative,
        "Seconds between two scheduled fixity runs (re-hash every stored object); 0: never.",
    ),
    Option(
        "WARCFLOW_RECHECK_DELAYS",
        "liveness.delays",
        "300,3600,21600,86400,604800",
        _delays,
        "Seconds from a capture to the first recheck of its original, then between "
        "rechecks (the last repeats), each ± 10 % jitter.",
    ),
    Option(
        "WARCFLOW_RECHECK_RECAPTURE",
        "liveness.recapture",
        "false",
        _bool,
        "Capture the URL again when a recheck finds the original changed.",
    ),
    Option(
        "WARCFLOW_WATCHERS",
        "watch.enabled",
        "true",
        _bool,
        "Run the watchers in `warcflow worker`: the worker that leads the workers' "
        "group polls every watch. Give all workers the same value (false on the "
        "leader means no polling).",
    ),
    Option(
        "WARCFLOW_WATCHES",
        "watch.sources",
        "",
        str,
        "Watches from the settings, polled besides those added with `warcflow watch add`: "
        'a JSON array of {"kind", "url", "every", "tags", "pattern"} '
        "objects (in TOML also `[[watch.sources]]` tables).",
    ),
    Option(
        "WARCFLOW_WATCH_MIN_EVERY",
        "watch.min_every",
        "60",
        _positive(float),
        "Shortest period of a watch, in seconds (politeness towards the watched sites).",
    ),
    Option(
        "WARCFLOW_WATCH_MAX_BACKOFF",
        "watch.max_backoff",
        "3600",
        _positive(float),
        "Longest wait in seconds before polling a watch again after failed polls.",
    ),
    Option(
        "WARCFLOW_WATCH_MAX_ITEMS",
        "watch.max_items",
        "500",
        _positive(int),
        "URLs a watch submits per poll at most; the rest wait for its next polls.",
    ),
    Option(
        "WARCFLOW_BROWSER_EXECUTABLE",
        "browser.executable",
        "/usr/bin/chromium",
        str,
        "Chromium binary for browser captures (Debian's `chromium`); empty or missing: "
        "no browser, so site rules fall back to static captures and `--browser` "
        "submissions fail with browser_unavailable.",
    ),
    Option(
        "WARCFLOW_BROWSER_SITES",
        "browser.sites",
        ",".join(SCRIPT_HEAVY_SITES),
        parse_sites,
        "Site rules: comma-separated hosts (each matching its subdomains too) or host:port "
        "whose pages are captured in the browser when a submission's mode is `auto`. "
        "The default lists platforms whose posts render by script; empty: static unless "
        "asked.",
    ),
    Option(
        "WARCFLOW_BROWSER_CONCURRENCY",
        "browser.concurrency",
        "2",
        _positive(int),
        "Browser captures a worker process runs at the same time (one Chromium, a fresh "
        "context per capture).",
    ),
    Option(
        "WARCFLOW_BROWSER_TIMEOUT",
        "browser.timeout",
        "90",
        _positive(float),
        "Deadline in seconds for rendering one page, scrolling and the screenshot; "
        "past it the capture is retried (browser_timeout).",
    ),
    Option(
        "WARCFLOW_BROWSER_IDLE_TIMEOUT",
        "browser.idle_timeout",
        "5",
        _positive(float),
        "Most seconds waited for the load event, and for network quiet after it and "
        "after each scroll.",
    ),
    Option(
        "WARCFLOW_BROWSER_SCROLL_STEPS",
        "browser.scroll_steps",
        "8",
        int,
        "Viewports scrolled down to trigger lazy loading (0: no scrolling).",
    ),
    Option(
        "WARCFLOW_BROWSER_USER",
        "browser.user",
        "nobody",
        str,
        "Account Chromium runs as when warcflow runs as root, sandboxed: for a capture in an "
        "empty network namespace of its own, for `session login` on the network; a dedicated "
        "account with no other files is best.",
    ),
    Option(
        "WARCFLOW_VIEWER_HOST",
        "viewer.host",
        "127.0.0.1",
        str,
        "Address the viewer and the replay server listen on.",
    ),
    Option(
        "WARCFLOW_VIEWER_PORT",
        "viewer.port",
        "8080",
        _positive(int),
        "Port of the viewer (web pages, JSON API, Memento).",
    ),
    Option(
        "WARCFLOW_REPLAY_PORT",
        "viewer.replay_port",
        "8090",
        _positive(int),
        "Port of the replay server (pywb), a separate origin.",
    ),
    Option(
        "WARCFLOW_VIEWER_ANONYMOUS_READ",
        "viewer.anonymous_read",
        "auto",
        _tri_state,
        "Whether pages and the read API answer without an account: true, false, or auto "
        "(only when the viewer listens on loopback and WARCFLOW_VIEWER_URL is empty). "
        "Submitting and downloading evidence always need an account.",
    ),
    Option(
        "WARCFLOW_VIEWER_SESSION_HOURS",
        "viewer.session_hours",
        "12",
        _positive(float),
        "How long a login to the viewer lasts.",
    ),
    Option(
        "WARCFLOW_VIEWER_SUBMITS_PER_MINUTE",
        "viewer.submits_per_minute",
        "30",
        _positive(float),
        "Submissions through the viewer allowed per minute, per account and per client "
        "address (a burst of as many); beyond: 429 with Retry-After.",
    ),
    Option(
        "WARCFLOW_VIEWER_DOWNLOADS_PER_MINUTE",
        "viewer.downloads_per_minute",
        "60",
        _positive(float),
        "Downloads of evidence (WARCs, media originals; each a custody event) allowed per "
        "minute, per account and per client address; beyond: 429 with Retry-After.",
    ),
    Option(
        "WARCFLOW_VIEWER_LOGINS_PER_MINUTE",
        "viewer.logins_per_minute",
        "10",
        _positive(float),
        "Login attempts allowed per minute, per client address and per account name.",
    ),
    Option(
        "WARCFLOW_VIEWER_AUDIT_WORKERS",
        "viewer.audit_workers",
        "2",
        _positive(int),
        "Audits the viewer runs at once, in the background (never in a request).",
    ),
    Option(
        "WARCFLOW_VIEWER_TRUSTED_PROXIES",
        "viewer.trusted_proxies",
        "",
        _names,
        "Addresses of the reverse proxy in front of the viewer (comma-separated): from "
        "them X-Forwarded-For gives the client address and X-Forwarded-Proto the scheme.",
    ),
    Option(
        "WARCFLOW_VIEWER_USER_HEADER",
        "viewer.user_header",
        "",
        str,
        "Header a trusted proxy sets to the account it authenticated (single sign-on, "
        "e.g. X-Forwarded-User from oauth2-proxy); the account must exist here.",
    ),
    Option(
        "WARCFLOW_VIEWER_URL",
        "viewer.public_url",
        "",
        str,
        "URL browsers use for the viewer (default http://HOST:PORT).",
    ),
    Option(
        "WARCFLOW_REPLAY_URL",
        "viewer.replay_url",
        "",
        str,
        "URL browsers use for replay (default http://localhost:REPLAY_PORT). Must be "
        "another host name than the viewer's, so archived pages cannot reach its cookies.",
    ),
    Option(
        "WARCFLOW_RETRY_ATTEMPTS",
        "retry.max_attempts",
        "5",
        _positive(int),
        "Attempts of a capture that fails transiently before it is given up.",
    ),
    Option(
        "WARCFLOW_RETRY_BASE_DELAY",
        "retry.base_delay",
        "2",
        _positive(float),
        "Seconds before the first retry; doubles each attempt.",
    ),
    Option(
        "WARCFLOW_RETRY_MAX_DELAY",
        "retry.max_delay",
        "60",
        _positive(float),
        "Longest wait between two attempts, in seconds.",
    ),
)

_BY_ENV = {option.env: option for option in OPTIONS}


def options_markdown() -> str:
    """The settings table of docs/configuration.md (``python -m warcflow.settings``)."""
    lines = ["| Variable | TOML key | Default | Meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        default = f"`{option.default}`" if option.default else "(empty)"
        lines.append(f"| `{option.env}` | `{option.toml}` | {default} | {option.help} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Settings:
    """Every part's settings, composed. ``values`` keeps the parsed table by env name."""

    home: Path
    log_level: str
    operator: str
    """The operator ``warcflow submit`` records (WARCFLOW_OPERATOR); empty: none."""
    fetch: FetchSettings
    media: MediaSettings
    browser: BrowserSettings
    viewer: ViewerSettings
    store: StoreSettings
    streams: StreamSettings
    services: ServiceSettings
    watch: WatchSettings
    values: Mapping[str, Any]
    sources: Mapping[str, str]
    unknown_env: tuple[str, ...] = ()
    role: str = ""
    """The role whose credentials were filled in (``warcflow.credentials.for_role``);
    empty before the CLI applies the command's."""

    @property
    def revisits(self) -> bool:
        """Whether captures write requisites stored before as revisits (WARCFLOW_REVISITS)."""
        return bool(self.values["WARCFLOW_REVISITS"])

    @property
    def session_vault(self) -> Path:
        """The session vault's file (WARCFLOW_SESSION_VAULT, default HOME/sessions/vault);
        its state file is beside it (``archivers.sessions.state.state_path``)."""
        return _session_vault(self.values, self.home)

    def describe(self) -> list[dict[str, Any]]:
        """Effective settings for ``warcflow config``; secrets masked."""
        rows = []
        for option in OPTIONS:
            value = self.values[option.env]
            shown = (
                "********"
                if option.secret and value
                else (
                    str(value)
                    if isinstance(value, Path)
                    else ",".join(
                        " ".join(v).strip()
                        if isinstance(v, tuple)
                        else f"{v:g}"
                        if isinstance(v, float)
                        else str(v)
                        for v in value
                    )
                    if isinstance(value, tuple)
                    else value
                )
            )
            rows.append(
                {
                    "env": option.env,
                    "toml": option.toml,
                    "value": shown,
                    "source": self.sources[option.env],
                    "help": option.help,
                }
            )
        return rows


def _session_vault(values: Mapping[str, Any], home: Path) -> Path:
    configured = values["WARCFLOW_SESSION_VAULT"]
    return Path(configured).expanduser() if configured else home / "sessions" / "vault"


def _toml_values(path: Path) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            doc = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read the settings file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"the settings file {path} is not valid TOML: {exc}") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, table: Mapping[str, Any]) -> None:
        for key, value in table.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(name + ".", value)
            else:
                flat[name] = value

    walk("", doc)
    by_toml = {option.toml: option for option in OPTIONS}
    unknown = sorted(set(flat) - set(by_toml))
    if unknown:
        raise SettingsError(
            f"unknown setting(s) in {path}: {', '.join(unknown)} "
            "(see `warcflow config` for the names)"
        )
    out = {}
    for name, value in flat.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            value = json.dumps(value)  # an array of tables ([[watch.sources]])
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        out[by_toml[name].env] = str(value)
    return out


def load_settings(
    environ: Mapping[str, str],
    config_file: str | None = None,
    overrides: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from the environment, an optional TOML file and overrides.

    ``overrides`` maps env names to values from command-line flags.
    Raises ``SettingsError`` naming the first setting that does not parse.
    """
    raw = {option.env: option.default for option in OPTIONS}
    sources = {option.env: "default" for option in OPTIONS}
    config_path = config_file or environ.get("WARCFLOW_CONFIG")
    if config_path:
        for env, value in _toml_values(Path(config_path).expanduser()).items():
            raw[env], sources[env] = value, f"file {config_path}"
    for env in _BY_ENV:
        if env in environ:
            raw[env], sources[env] = environ[env], "environment"
    for env, value in (overrides or {}).items():
        raw[env], sources[env] = value, "command line"
    unknown_env = sorted(
        k
        for k in environ
        if k.startswith("WARCFLOW_") and k not in _BY_ENV and k != "WARCFLOW_CONFIG"
    )
    values: dict[str, Any] = {}
    for option in OPTIONS:
        try:
            values[option.env] = option.parse(raw[option.env])
        except ValueError as exc:
            raise SettingsError(f"{option.env} ({sources[option.env]}): {exc}") from None
    try:
        allow: tuple[AllowRule, ...] = parse_allow_list(values["WARCFLOW_FETCH_ALLOW"])
    except ValueError as exc:
        raise SettingsError(f"WARCFLOW_FETCH_ALLOW: {exc}") from None
    if values["WARCFLOW_LOG_LEVEL"].lower() not in ("debug", "info", "warn", "warning", "error"):
        raise SettingsError("WARCFLOW_LOG_LEVEL must be debug, info, warn or error")
    viewer_host = urlsplit(
        values["WARCFLOW_VIEWER_URL"] or f"http://{values['WARCFLOW_VIEWER_HOST']}"
    ).hostname
    replay_host = urlsplit(values["WARCFLOW_REPLAY_URL"] or "http://localhost").hostname
    if viewer_host == replay_host:
        raise SettingsError(
            "WARCFLOW_REPLAY_URL must use another host name than the viewer "
            f"({viewer_host}): cookies ignore ports, so archived pages could "
            "reach the viewer's"
        )
    if values["WARCFLOW_CANARY_URL"]:
        from archivers.urls import validate_url

        try:
            validate_url(values["WARCFLOW_CANARY_URL"])
        except InvalidURL as exc:
            raise SettingsError(f"WARCFLOW_CANARY_URL: {exc}") from None
    ca_file = values["WARCFLOW_FETCH_CA_FILE"]
    if ca_file:
        ca_file = str(Path(ca_file).expanduser())
        if not Path(ca_file).is_file():
            raise SettingsError(f"WARCFLOW_FETCH_CA_FILE: {ca_file} is not a file")
    if len(values["WARCFLOW_S3_BUCKET"]) < 3:
        raise SettingsError("WARCFLOW_S3_BUCKET must be at least 3 characters (an S3 rule)")
    try:
        configured_watches = watches_from_setting(
            values["WARCFLOW_WATCHES"], min_every=values["WARCFLOW_WATCH_MIN_EVERY"]
        )
    except InvalidWatch as exc:
        raise SettingsError(f"WARCFLOW_WATCHES: {exc}") from None
    home = values["WARCFLOW_HOME"].expanduser().absolute()
    cache = values["WARCFLOW_CACHE"].expanduser().absolute()
    server_bin = values["WARCFLOW_S3_SERVER_BIN"]
    settings = Settings(
        home=home,
        log_level=values["WARCFLOW_LOG_LEVEL"].lower(),
        operator=values["WARCFLOW_OPERATOR"].strip(),
        fetch=FetchSettings(
            allow=allow,
            connect_timeout=values["WARCFLOW_FETCH_CONNECT_TIMEOUT"],
            read_timeout=values["WARCFLOW_FETCH_READ_TIMEOUT"],
            total_timeout=values["WARCFLOW_FETCH_TOTAL_TIMEOUT"],
            max_response_bytes=values["WARCFLOW_FETCH_MAX_BYTES"],
            max_redirects=values["WARCFLOW_FETCH_MAX_REDIRECTS"],
            max_requisites=values["WARCFLOW_FETCH_MAX_REQUISITES"],
            user_agent=values["WARCFLOW_FETCH_USER_AGENT"],
            verify_tls=values["WARCFLOW_FETCH_VERIFY_TLS"],
            ca_file=ca_file or None,
            politeness=PolitenessSettings(
                total=values["WARCFLOW_FETCH_MAX_CONNECTIONS"],
                per_host=values["WARCFLOW_FETCH_PER_HOST"],
                host_delay=values["WARCFLOW_FETCH_HOST_DELAY"],
            ),
            holds=HoldSettings(
                default_seconds=values["WARCFLOW_FETCH_HOLD_DEFAULT"],
                max_seconds=values["WARCFLOW_FETCH_HOLD_MAX"],
                wait_seconds=values["WARCFLOW_FETCH_HOLD_WAIT"],
            ),
        ),
        media=MediaSettings(
            max_bytes=values["WARCFLOW_MEDIA_MAX_BYTES"],
            max_duration=values["WARCFLOW_MEDIA_MAX_DURATION"],
            max_requests=values["WARCFLOW_MEDIA_MAX_REQUESTS"],
            timeout=values["WARCFLOW_MEDIA_TIMEOUT"],
            per_page=values["WARCFLOW_MEDIA_PER_PAGE"],
            derive=values["WARCFLOW_MEDIA_DERIVE"],
            hashes=values["WARCFLOW_MEDIA_HASHES"],
        ),
        browser=BrowserSettings(
            executable=values["WARCFLOW_BROWSER_EXECUTABLE"],
            sites=values["WARCFLOW_BROWSER_SITES"],
            concurrency=values["WARCFLOW_BROWSER_CONCURRENCY"],
            timeout=values["WARCFLOW_BROWSER_TIMEOUT"],
            idle_timeout=values["WARCFLOW_BROWSER_IDLE_TIMEOUT"],
            scroll_steps=max(0, values["WARCFLOW_BROWSER_SCROLL_STEPS"]),
            user=values["WARCFLOW_BROWSER_USER"],
        ),
        viewer=ViewerSettings(
            state_dir=home / "viewer",
            host=values["WARCFLOW_VIEWER_HOST"],
            port=values["WARCFLOW_VIEWER_PORT"],
            replay_host=values["WARCFLOW_VIEWER_HOST"],
            replay_port=values["WARCFLOW_REPLAY_PORT"],
            public_url=values["WARCFLOW_VIEWER_URL"],
            replay_url=values["WARCFLOW_REPLAY_URL"],
            anonymous_read=values["WARCFLOW_VIEWER_ANONYMOUS_READ"],
            session_hours=values["WARCFLOW_VIEWER_SESSION_HOURS"],
            submits_per_minute=values["WARCFLOW_VIEWER_SUBMITS_PER_MINUTE"],
            downloads_per_minute=values["WARCFLOW_VIEWER_DOWNLOADS_PER_MINUTE"],
            logins_per_minute=values["WARCFLOW_VIEWER_LOGINS_PER_MINUTE"],
            audit_workers=values["WARCFLOW_VIEWER_AUDIT_WORKERS"],
            trusted_proxies=values["WARCFLOW_VIEWER_TRUSTED_PROXIES"],
            user_header=values["WARCFLOW_VIEWER_USER_HEADER"].strip(),
            session_state=state_path(_session_vault(values, home)),
        ),
        store=StoreSettings(
            endpoint=values["WARCFLOW_S3_ENDPOINT"],
            bucket=values["WARCFLOW_S3_BUCKET"],
            access_key=values["WARCFLOW_S3_ACCESS_KEY"],
            secret_key=values["WARCFLOW_S3_SECRET_KEY"],
            region=values["WARCFLOW_S3_REGION"],
            lock_mode=values["WARCFLOW_S3_LOCK_MODE"],
            lock_days=values["WARCFLOW_S3_LOCK_DAYS"],
        ),
        streams=StreamSettings(
            kafka=KafkaAccess(
                bootstrap=values["WARCFLOW_KAFKA_BOOTSTRAP"],
                user=values["WARCFLOW_KAFKA_USER"],
                password=values["WARCFLOW_KAFKA_PASSWORD"],
            ),
            mac_keys=values["WARCFLOW_MAC_KEYS"],
            topic_prefix=values["WARCFLOW_TOPIC_PREFIX"],
            partitions=values["WARCFLOW_PARTITIONS"],
            spread_sites=frozenset(values["WARCFLOW_SPREAD_SITES"]),
            replication=values["WARCFLOW_REPLICATION"],
            concurrency=values["WARCFLOW_WORKER_CONCURRENCY"],
            drain_seconds=values["WARCFLOW_WORKER_DRAIN"],
            processes=values["WARCFLOW_WORKER_PROCESSES"],
            media_concurrency=values["WARCFLOW_MEDIA_CONCURRENCY"],
            metrics_address=values["WARCFLOW_WORKER_METRICS"],
            canary_url=values["WARCFLOW_CANARY_URL"],
            canary_every=values["WARCFLOW_CANARY_EVERY"],
            head_every=values["WARCFLOW_LEDGER_HEAD_EVERY"],
            fixity_every=values["WARCFLOW_FIXITY_EVERY"],
            recheck_delays=values["WARCFLOW_RECHECK_DELAYS"],
            recapture_on_change=values["WARCFLOW_RECHECK_RECAPTURE"],
            retry=RetryPolicy(
                max_attempts=values["WARCFLOW_RETRY_ATTEMPTS"],
                base_delay=values["WARCFLOW_RETRY_BASE_DELAY"],
                max_delay=values["WARCFLOW_RETRY_MAX_DELAY"],
            ),
        ),
        services=ServiceSettings(
            home=home,
            cache=cache,
            kafka_bootstrap=values["WARCFLOW_KAFKA_BOOTSTRAP"].split(",")[0],
            s3_endpoint=values["WARCFLOW_S3_ENDPOINT"],
            s3_region=values["WARCFLOW_S3_REGION"],
            s3_server_bin=Path(server_bin).expanduser() if server_bin else None,
        ),
        watch=WatchSettings(
            enabled=values["WARCFLOW_WATCHERS"],
            watches=configured_watches,
            min_every=values["WARCFLOW_WATCH_MIN_EVERY"],
            max_backoff=values["WARCFLOW_WATCH_MAX_BACKOFF"],
            max_items=values["WARCFLOW_WATCH_MAX_ITEMS"],
        ),
        values=values,
        sources=sources,
        unknown_env=tuple(unknown_env),
    )
    return settings


if __name__ == "__main__":
    print(options_markdown(), end="")
