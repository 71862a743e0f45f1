"""The shared index of stored payloads: a requisite stored before becomes a revisit.

Every page re-fetches its platform's JS/CSS bundles, fonts and logos; storing
each in full again is most of what an archive of many posts would hold. A
response whose payload (``WARC-Payload-Digest``, SHA-256 of the bytes after
the HTTP header block as received) was already stored by an earlier capture
is written as a WARC/1.1 ``revisit`` record (identical-payload-digest profile,
``WARC-Refers-To-Target-URI``/``-Date`` naming the original), the way
Heritrix, Browsertrix and pywb's own recorder deduplicate.

The index is one small JSON object per digest in the store,
``payloads/<scope>/sha256/<aa>/<digest>.json`` (``layout.payload_key``), shared
by every worker: what the original record is (its capture, WARC key, record
id, offset and length, target URI and date). A worker keeps the entries it has
seen in a bounded in-process cache, so a page whose requisites are all known
costs no store request for them.

Scopes (``scope_of``): a revisit names only an original from a capture of the
same case and the same logged-in session (or, for both, none: ``public``). An
export of a capture packs the WARCs of its originals, and a case's export must
not carry another case's capture, nor a logged-in view into an anonymous one.

Invariants:
- an entry is written only after the capture holding its full record is
  committed (``publish`` is called once its own ``stored`` manifest is in the
  store, so its ledger entry follows), with put-if-absent: the first
  stored original stays the one every revisit names. Two workers racing on a
  new requisite both write full records; neither writes a revisit to a record
  that is not stored. A revisit never dangles.
- ``eligible`` is the one rule of what may be deduplicated: a ``200`` whose
  payload was read whole (not truncated) and is at least ``MIN_PAYLOAD``
  bytes, of a static asset's type (``ASSET_TYPES``: scripts, style sheets,
  fonts, images, WebAssembly; never HTML, JSON or other data, which carry the
  post itself in a browser capture's XHRs), and that is not the page itself
  (the capture's own redirect chain and final response are always stored in
  full: the page is the evidence).
- the index only saves space: a lookup that fails (store down, entry
  unreadable or not well formed) means a full record, never a failed capture.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

from archivers.net.recording import Exchange, content_type
from archivers.store import layout
from archivers.store.base import ObjectStore

log = logging.getLogger(__name__)

MIN_PAYLOAD = 2048
"""Smallest payload worth a revisit: below it the revisit record (the HTTP
header block plus its WARC headers) saves too little to be worth an index entry."""
CACHE_ENTRIES = 65536
"""Entries a worker process keeps (about 30 MiB at most)."""
ASSET_TYPES = re.compile(
    r"^(text/css|(text|application)/(x-)?(java|ecma)script|font/.*|application/(x-)?font-.*"
    r"|application/vnd\.ms-fontobject|image/.*|application/wasm)$"
)
"""Content types of the responses that may be revisits: a page's static assets."""
_SAFE = re.compile(r"^[^\x00-\x20\x7f]+$")
"""What a target URI or date from an index entry may hold before it goes into a
WARC header: no whitespace or control character (no header can be injected)."""


def scope_of(case_id: str | None, session_id: str | None) -> str:
    """The payload index scope of a capture (the module docstring)."""
    if not case_id and not session_id:
        return "public"
    seed = f"{case_id or ''}\x00{session_id or ''}".encode()
    return "s-" + hashlib.sha256(seed).hexdigest()[:24]


@dataclass(frozen=True)
class PayloadRef:
    """Where the first stored copy of a payload is: one index entry."""

    sha256: str
    size: int
    """Payload bytes (after the HTTP header block)."""
    target_uri: str
    warc_date: str
    """The original record's ``WARC-Date`` (what a revisit's ``WARC-Refers-To-Date`` says)."""
    capture_id: str
    warc_key: str
    record_id: str
    offset: int
    length: int
    """Byte range of the original's gzip member in ``warc_key``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> PayloadRef:
        try:
            ref = cls(
                sha256=str(doc["sha256"]),
                size=int(doc["size"]),
                target_uri=str(doc["target_uri"]),
                warc_date=str(doc["warc_date"]),
                capture_id=str(doc["capture_id"]),
                warc_key=str(doc["warc_key"]),
                record_id=str(doc["record_id"]),
                offset=int(doc["offset"]),
                length=int(doc["length"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a payload index entry: {exc}") from None
        # what a revisit would write into its headers, and where audit would look
        if not (
            layout.is_capture_id(ref.capture_id)
            and ref.warc_key == layout.warc_key(ref.capture_id)
            and all(_SAFE.match(v) for v in (ref.target_uri, ref.warc_date, ref.record_id))
            and ref.offset >= 0
            and ref.length > 0
            and ref.size >= 0
        ):
            raise ValueError("not a well-formed payload index entry")
        return ref


def payload_size(exchange: Exchange) -> int:
    response = exchange.response
    return response.raw.size - (response.header_size or 0)


def eligible(exchange: Exchange, page: list[Exchange]) -> bool:
    """Whether ``exchange`` may be written as a revisit (or be indexed as an
    original): the one rule of the module docstring. ``page`` is the capture's
    redirect chain and final response."""
    response = exchange.response
    return (
        response.status == 200
        and bool(ASSET_TYPES.match(content_type(response)))
        and not response.truncated
        and response.header_size is not None
        and payload_size(exchange) >= MIN_PAYLOAD
        and not any(exchange is hop for hop in page)
    )


class PayloadIndex:
    """The shared index over ``store``. Thread-safe; methods block (call them in a thread)."""

    def __init__(self, store: ObjectStore, *, cache_entries: int = CACHE_ENTRIES) -> None:
        self.store = store
        self.cache_entries = cache_entries
        self._cache: OrderedDict[tuple[str, str], PayloadRef] = OrderedDict()
        self._lock = threading.Lock()

    def _remember(self, ref: PayloadRef, scope: str) -> None:
        with self._lock:
            self._cache[(scope, ref.sha256)] = ref
            self._cache.move_to_end((scope, ref.sha256))
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)

    def cached(self, sha256: str, scope: str = "public") -> PayloadRef | None:
        with self._lock:
            ref = self._cache.get((scope, sha256))
            if ref is not None:
                self._cache.move_to_end((scope, sha256))
            return ref

    def lookup(self, sha256: str, scope: str = "public") -> PayloadRef | None:
        """The stored original of ``sha256`` in ``scope``, or None (not stored, or
        the index cannot be read now: either way the caller writes a full record)."""
        ref = self.cached(sha256, scope)
        if ref is not None:
            return ref
        try:
            data = self.store.get_bytes(layout.payload_key(sha256, scope))
        except KeyError:
            return None
        except Exception as exc:  # noqa: BLE001 - the index only saves space
            log.warning("payload index unreadable for %s: %s", sha256, exc)
            return None
        try:
            ref = PayloadRef.from_dict(json.loads(data))
        except ValueError as exc:
            log.warning("payload index entry %s is not readable: %s", sha256, exc)
            return None
        if ref.sha256 != sha256:
            log.warning("payload index entry %s names %s: ignored", sha256, ref.sha256)
            return None
        self._remember(ref, scope)
        return ref

    def publish(self, ref: PayloadRef, scope: str = "public") -> None:
        """Record ``ref`` as the original of its digest in ``scope`` unless one is.
        Call only once its capture is committed (the module's invariant)."""
        if self.cached(ref.sha256, scope) is not None:
            return
        body = json.dumps(ref.to_dict(), sort_keys=True).encode("utf-8")
        try:
            created = self.store.put_new(
                layout.payload_key(ref.sha256, scope),
                io.BytesIO(body),
                size=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
                content_type="application/json",
            )
        except Exception as exc:  # noqa: BLE001 - the index only saves space
            log.warning("payload index entry for %s not written: %s", ref.sha256, exc)
            return
        if created:
            self._remember(ref, scope)
        else:  # another capture stored it first: remember that one
            self.lookup(ref.sha256, scope)
