"""The custody ledger: an append-only Merkle log of stored objects and custody events.

Every leaf is one ``Entry``: what happened (a capture or media stored, a
recheck, a fixity run, an export, a download through the viewer, a note on a
capture), when, by
whom, and the SHA-256 of every object involved. The entry's canonical JSON is
the leaf data (RFC 9162: ``leaf = SHA-256(0x00 || data)``), stored as is, so
anyone can re-hash it. Layout under ``ledger/`` in the bucket (every object
written once, put-if-absent, under Object Lock where the server has it):

    ledger/entries/<index>.json          the leaf data, index zero-padded to 12 digits
    ledger/by-capture/<capture_id>/<index>.json   the same bytes, listed per capture
    ledger/ids/<sha256 of event_id>.json {"event_id", "index"}: the entry of each event id
    ledger/tiles/<k>.bin                 leaf hashes k*256 .. k*256+255, once all exist
    ledger/tile-ids/<k>.json             written after every entry of tile k has its id
    ledger/heads/<size>.json             a signed tree head (archivers.treehead)
    ledger/tokens/<size>/<n>-<tsa>.tsr   RFC 3161 tokens over SHA-256(head file bytes)
    ledger/consistency/<old>-<new>.json  consistency proof between two published heads
    ledger/keys/<key_id>.pem             the head-signing public key (also an entry)
    ledger/tsa/<name>-<fingerprint>.pem  the certificate a TSA's tokens verify against

Invariants: entry ``i`` is at ``ledger/entries/<i>.json`` and nowhere else;
entries are only added, at the next free index (a put-if-absent that fails
means another writer got there first: reload and try again); a head of size
``n`` commits to entries ``0 .. n-1``; ``event_id`` is unique in the log, so
an event is appended once however often it is delivered — a redelivery, or
the whole captures topic read again after the group's offsets expired.

The last is kept by the id index, which survives reloads: before appending,
the writer looks for ``ledger/ids/<sha256(event_id)>.json`` (one HEAD); after
writing an entry it writes the entry's id object, and only then, when the
entry completes a tile, the tile and ``tile-ids/<k>``. So every entry inside a
tile has its id object, and an entry whose id object a crash prevented is
after the last tile: a reload reads those entries one by one and writes their
id objects. A log written before the index existed gets it on its first load
(the entries of each tile without ``tile-ids/<k>`` are read once).

A head a TSA did not stamp (it was down) is stamped by it later: each
``publish_head`` first asks every TSA for the heads it is known to have
missed (those this writer published, and after a load the last
``RESTAMP_WINDOW`` heads), so every head ends with a token of each TSA that
answers. A head no TSA stamps at all is not published (the next request
signs a fresh one): a published head's earliest token is always within
moments of its signer's time, so a gap between them means back-dating
(``archivers.custody.anchor``), never an outage.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from archivers.clock import iso, utc_now
from archivers.custody import merkle
from archivers.custody.treehead import HeadSigner, TreeHead, public_pem
from archivers.store.base import ObjectStore

log = logging.getLogger("warcflow.ledger")

ENTRY_SCHEMA = "warcflow.LedgerEntry"
TILE = 256

EVENTS = ("capture", "media", "recheck", "fixity", "export", "download", "key", "annotation")
"""What an entry records; ``annotation`` is a note on a capture (archivers.custody.notes)."""
RESTAMP_WINDOW = 100
"""How many of the latest heads a freshly loaded writer checks for missing TSA tokens."""


def entry_key(index: int) -> str:
    return f"ledger/entries/{index:012d}.json"


def capture_entries_prefix(capture_id: str) -> str:
    return f"ledger/by-capture/{capture_id}/"


def head_key(size: int) -> str:
    return f"ledger/heads/{size:012d}.json"


def tokens_prefix(size: int) -> str:
    return f"ledger/tokens/{size:012d}/"


def tile_key(k: int) -> str:
    return f"ledger/tiles/{k:08d}.bin"


def tile_ids_key(k: int) -> str:
    return f"ledger/tile-ids/{k:08d}.json"


def event_id_key(event_id: str) -> str:
    """Where the index of the entry recording ``event_id`` is kept."""
    return f"ledger/ids/{hashlib.sha256(event_id.encode('utf-8')).hexdigest()}.json"


def entry_index_of(store: ObjectStore, event_id: str) -> int | None:
    """The index of the entry recording ``event_id``, from the id index; None if none."""
    try:
        doc = json.loads(store.get_bytes(event_id_key(event_id)))
        return int(doc["index"]) if doc.get("event_id") == event_id else None
    except KeyError:
        return None
    except (ValueError, TypeError, AttributeError):
        return None


def consistency_key(old: int, new: int) -> str:
    return f"ledger/consistency/{old:012d}-{new:012d}.json"


def public_key_key(key_id: str) -> str:
    return f"ledger/keys/{key_id}.pem"


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ObjectDigest:
    """An object the entry vouches for: its key, SHA-256, size and S3 version."""

    key: str
    sha256: str
    size: int
    version_id: str | None = None


@dataclass(frozen=True)
class CustodyEvent:
    """Something to record, before it has a place in the log.

    ``event_id`` names it uniquely (a redelivery carries the same id);
    ``at`` is when it happened, UTC ISO; ``who`` the person or component.
    """

    event: str
    event_id: str
    at: str
    who: str
    capture_id: str | None = None
    url: str | None = None
    objects: tuple[ObjectDigest, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown custody event {self.event!r}")


@dataclass(frozen=True)
class Entry:
    """A custody event at its place in the log. ``data`` is the leaf data."""

    index: int
    recorded_at: str
    event: CustodyEvent

    def doc(self) -> dict[str, Any]:
        e = self.event
        return {
            "schema": ENTRY_SCHEMA,
            "index": self.index,
            "recorded_at": self.recorded_at,
            "event": e.event,
            "event_id": e.event_id,
            "at": e.at,
            "who": e.who,
            "capture_id": e.capture_id,
            "url": e.url,
            "objects": [asdict(o) for o in e.objects],
            "detail": e.detail,
        }

    @property
    def data(self) -> bytes:
        return canonical(self.doc())

    @property
    def leaf(self) -> bytes:
        return merkle.leaf_hash(self.data)

    @classmethod
    def from_data(cls, data: bytes) -> Entry:
        """Parse stored leaf data; ValueError if it is not an entry or not canonical."""
        try:
            doc = json.loads(data)
            if doc.get("schema") != ENTRY_SCHEMA:
                raise ValueError("not a ledger entry")
            event = CustodyEvent(
                event=doc["event"],
                event_id=doc["event_id"],
                at=doc["at"],
                who=doc["who"],
                capture_id=doc.get("capture_id"),
                url=doc.get("url"),
                objects=tuple(ObjectDigest(**o) for o in doc.get("objects", [])),
                detail=dict(doc.get("detail") or {}),
            )
            entry = cls(int(doc["index"]), str(doc["recorded_at"]), event)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a readable ledger entry: {exc}") from None
        if entry.data != data:
            raise ValueError(
                f"ledger entry {entry.index} is not in canonical form "
                "(edited after it was written?)"
            )
        return entry


class Stamper(Protocol):
    """A time-stamping authority: ``name``, ``ca_pem`` (what its tokens verify
    against) and ``stamp(sha256_hex) -> DER token``."""

    name: str

    def ca_pem(self) -> bytes: ...

    def stamp(self, digest_hex: str) -> bytes: ...


@dataclass(frozen=True)
class PublishedHead:
    head: TreeHead
    key: str
    sha256: str  # of the head file's bytes: what the tokens stamp
    tokens: tuple[str, ...]  # keys of the stored tokens
    problems: tuple[str, ...] = ()  # TSAs that did not answer


def _put(store: ObjectStore, key: str, data: bytes, content_type: str) -> bool:
    return store.put_new(
        key,
        io.BytesIO(data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type=content_type,
    )


class Ledger:
    """The single writer's view of the log: every leaf hash, in memory.

    Not thread-safe: one ledger agent (one partition, concurrency 1) calls it.
    """

    def __init__(
        self,
        store: ObjectStore,
        signer: HeadSigner | None = None,
        stampers: Sequence[Stamper] = (),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.signer = signer
        self.stampers = tuple(stampers)
        self.clock = clock
        self.hashes: list[bytes] = []
        self._ids: dict[str, int] = {}
        self._missed: set[int] = set()
        """Sizes of heads some configured TSA may not have stamped yet."""
        self._loaded = False

    # -- reading --------------------------------------------------------------

    def load(self) -> None:
        """Read the leaf hashes back: whole tiles, then the entries after them
        (each gets its id object if a crash left it without); write the tiles
        and tile-ids a crash (or an older warcflow) left unwritten; note the
        recent heads some TSA did not stamp."""
        self._ids = {}
        self.hashes = list(read_leaf_hashes(self.store, self._ids))
        self._loaded = True
        for event_id, index in self._ids.items():
            self._index_id(event_id, index)
        have = set(self.store.list_keys("ledger/tiles/"))
        indexed = set(self.store.list_keys("ledger/tile-ids/"))
        read = set(self._ids.values())
        for k in range(len(self.hashes) // TILE):
            if tile_ids_key(k) not in indexed:
                for index in range(k * TILE, (k + 1) * TILE):
                    if index not in read:
                        entry = Entry.from_data(self.store.get_bytes(entry_key(index)))
                        self._index_id(entry.event.event_id, index)
            if tile_key(k) not in have:
                _put(
                    self.store,
                    tile_key(k),
                    b"".join(self.hashes[k * TILE : (k + 1) * TILE]),
                    "application/octet-stream",
                )
            if tile_ids_key(k) not in indexed:
                _put(self.store, tile_ids_key(k), b"{}", "application/json")
        self._missed = set()
        if self.stampers:
            heads = list(self.store.list_keys("ledger/heads/"))[-RESTAMP_WINDOW:]
            self._missed = {_size_of(key) for key in heads}
        log.info("ledger loaded: %d entries", len(self.hashes))

    def _index_id(self, event_id: str, index: int) -> None:
        _put(
            self.store,
            event_id_key(event_id),
            canonical({"event_id": event_id, "index": index}),
            "application/json",
        )

    def _known(self, event_id: str) -> int | None:
        """The index of the entry of ``event_id``: from memory, else the id index."""
        if event_id in self._ids:
            return self._ids[event_id]
        index = entry_index_of(self.store, event_id)
        if index is not None:
            self._ids[event_id] = index
        return index

    @property
    def size(self) -> int:
        return len(self.hashes)

    # -- writing --------------------------------------------------------------

    def append(self, event: CustodyEvent) -> Entry | None:
        """Append ``event`` at the next index; None if its id is already in the log."""
        if not self._loaded:
            self.load()
        known = self._known(event.event_id)
        if known is not None:
            self._index_for_capture(event, known)
            return None
        while True:
            entry = Entry(self.size, iso(self.clock()), event)
            if _put(self.store, entry_key(entry.index), entry.data, "application/json"):
                break
            log.warning("ledger entry %d exists (another writer?): reloading", entry.index)
            self.load()
            known = self._known(event.event_id)
            if known is not None:  # ours, written by an attempt that then failed
                self._index_for_capture(event, known)
                return None
        self.hashes.append(entry.leaf)
        self._ids[event.event_id] = entry.index
        self._index_id(event.event_id, entry.index)
        self._index_for_capture(event, entry.index, entry.data)
        if self.size % TILE == 0:
            k = self.size // TILE - 1
            _put(
                self.store,
                tile_key(k),
                b"".join(self.hashes[k * TILE :]),
                "application/octet-stream",
            )
            _put(self.store, tile_ids_key(k), b"{}", "application/json")
        return entry

    def _index_for_capture(
        self, event: CustodyEvent, index: int, data: bytes | None = None
    ) -> None:
        """List entry ``index`` under its capture (again, after a crash between the two)."""
        if event.capture_id:
            key = capture_entries_prefix(event.capture_id) + f"{index:012d}.json"
            if data is None:
                if self.store.head(key) is not None:
                    return
                data = self.store.get_bytes(entry_key(index))
            _put(self.store, key, data, "application/json")

    def publish_key(self) -> Entry | None:
        """Record the signing public key in the log, then publish it under
        ``ledger/keys/`` (once per key: a published key was recorded first)."""
        if self.signer is None:
            return None
        key = public_key_key(self.signer.key_id)
        if self.store.head(key) is not None:
            return None
        pem = public_pem(self.signer.public)
        fingerprint = hashlib.sha256(pem).hexdigest()
        entry = self.append(
            CustodyEvent(
                event="key",
                event_id=f"key:{self.signer.key_id}",
                at=iso(self.clock()),
                who="ledger",
                objects=(ObjectDigest(key, fingerprint, len(pem)),),
                detail={
                    "key_id": self.signer.key_id,
                    "algorithm": "Ed25519",
                    "public_key_pem": pem.decode("ascii"),
                    "pem_sha256": fingerprint,
                },
            )
        )
        _put(self.store, key, pem, "application/x-pem-file")
        return entry

    def publish_head(self) -> PublishedHead | None:
        """Sign the current root, have every TSA stamp it, store the consistency
        proof from the previous head, then the head. None when nothing is new."""
        if self.signer is None:
            raise RuntimeError("the ledger has no signing key")
        if not self._loaded:
            self.load()
        restamped = self._restamp_missed()
        if self.size == 0:
            return restamped
        previous = latest_head(self.store)
        if previous is not None and previous.size >= self.size:
            return restamped
        head = self.signer.sign(self.size, merkle.root(self.hashes), self.clock())
        data = head.to_json()
        key = head_key(head.size)
        # Tokens and proof first, the head last: a head anyone can see is complete.
        # (Two writers signing the same size at once could mix their tokens; the
        # single-writer design rules that out, and an audit would name it.)
        digest, tokens, problems = self._stamp(head.size, data)
        if self.stampers and not tokens:
            # unpublished, so never a head whose only tokens come hours after its
            # signer's time: that gap is what an audit takes for back-dating
            log.warning("ledger head %d not published: no TSA stamped it", head.size)
            return None
        if previous is not None and previous.size > 0:
            proof = merkle.consistency_proof(self.hashes, previous.size, head.size)
            _put(
                self.store,
                consistency_key(previous.size, head.size),
                canonical(
                    {
                        "old_size": previous.size,
                        "new_size": head.size,
                        "old_root": previous.root,
                        "new_root": head.root,
                        "proof": [p.hex() for p in proof],
                    }
                ),
                "application/json",
            )
        if not _put(self.store, key, data, "application/json"):
            log.warning("ledger head %d exists already (another writer?)", head.size)
            return None
        if problems:
            self._missed.add(head.size)
        log.info("ledger head %d published (%d TSA tokens)", head.size, len(tokens))
        return PublishedHead(head, key, digest, tuple(tokens), tuple(problems))

    def _stamp(
        self, size: int, data: bytes, have: set[str] | None = None
    ) -> tuple[str, list[str], list[str]]:
        """Have every TSA stamp the head file ``data`` (those without a token in
        ``have``, when given): (its SHA-256, new token keys, problems)."""
        digest = hashlib.sha256(data).hexdigest()
        tokens, problems = [], []
        for n, stamper in enumerate(self.stampers):
            if have is not None and stamper.name in have:
                continue
            try:
                token = stamper.stamp(digest)
            except Exception as exc:  # noqa: BLE001 - one TSA down must not stop the others
                problems.append(f"{stamper.name}: {exc}")
                log.warning("TSA %s did not stamp head %d: %s", stamper.name, size, exc)
                continue
            token_key = tokens_prefix(size) + f"{n}-{stamper.name}.tsr"
            _put(self.store, token_key, token, "application/timestamp-reply")
            ca = stamper.ca_pem()
            _put(self.store, tsa_cert_key(stamper.name, ca), ca, "application/x-pem-file")
            tokens.append(token_key)
        return digest, tokens, problems

    def _restamp_missed(self) -> PublishedHead | None:
        """Have each TSA that has no token on a head it may have missed stamp it
        now; the latest head so re-stamped (None if none needed it)."""
        latest = None
        for size in sorted(self._missed):
            key = head_key(size)
            try:
                data = self.store.get_bytes(key)
            except KeyError:
                self._missed.discard(size)
                continue
            have = set(coverage(self.store, size))
            if all(s.name in have for s in self.stampers):
                self._missed.discard(size)
                continue
            digest, tokens, problems = self._stamp(size, data, have)
            if not problems:
                self._missed.discard(size)
            if tokens:
                log.info("ledger head %d stamped again (%d new TSA tokens)", size, len(tokens))
                latest = PublishedHead(
                    TreeHead.from_json(data), key, digest, tuple(tokens), tuple(problems)
                )
        return latest


def _size_of(key: str) -> int:
    return int(key.rsplit("/", 1)[1].split(".")[0])


def token_tsa(token_key: str) -> str:
    """The TSA name of a token ``ledger/tokens/<size>/<n>-<name>.tsr``."""
    return token_key.rsplit("/", 1)[-1].removesuffix(".tsr").split("-", 1)[-1]


def coverage(store: ObjectStore, size: int) -> dict[str, str]:
    """The TSAs that stamped head ``size``: token key by TSA name (stored, not verified)."""
    return {token_tsa(key): key for key in store.list_keys(tokens_prefix(size))}


def tsa_cert_key(name: str, ca_pem: bytes) -> str:
    return f"{tsa_cert_prefix(name)}{hashlib.sha256(ca_pem).hexdigest()[:16]}.pem"


def tsa_cert_prefix(name: str) -> str:
    """Where the certificates of the TSA called ``name`` are listed (with those of
    any TSA whose name begins ``<name>-``: ``tsa_cert_keys`` tells them apart)."""
    return f"ledger/tsa/{name}-"


def tsa_cert_keys(store: ObjectStore, name: str) -> list[str]:
    """The certificates the ledger published for the TSA called ``name``, exactly."""
    prefix = tsa_cert_prefix(name)
    return [
        k
        for k in store.list_keys(prefix)
        if re.fullmatch(r"[0-9a-f]{16}\.pem", k.removeprefix(prefix))
    ]


def read_leaf_hashes(store: ObjectStore, ids: dict[str, int] | None = None) -> Iterator[bytes]:
    """Every leaf hash in index order. Entries after the last tile are read and
    checked (their ``event_id`` goes into ``ids``). A missing tile is read from
    its entries instead; a missing entry is an error."""
    size = 0
    for key in store.list_keys("ledger/tiles/"):
        if key != tile_key(size // TILE):
            break  # a tile never written (the writer died): the entries say the rest
        data = store.get_bytes(key)
        if len(data) != TILE * 32:
            raise ValueError(f"{key}: not a tile of {TILE} leaf hashes")
        for i in range(TILE):
            yield data[i * 32 : (i + 1) * 32]
        size += TILE
    for key in store.list_keys("ledger/entries/"):
        index = int(key.rsplit("/", 1)[1].split(".")[0])
        if index < size:
            continue
        if index != size:
            raise ValueError(f"ledger entry {size} is missing (found {key})")
        data = store.get_bytes(key)
        entry = Entry.from_data(data)
        if ids is not None:
            ids[entry.event.event_id] = entry.index
        yield merkle.leaf_hash(data)
        size += 1


def latest_head(store: ObjectStore) -> TreeHead | None:
    last = None
    for key in store.list_keys("ledger/heads/"):
        last = key
    return TreeHead.from_json(store.get_bytes(last)) if last else None


def log_size(store: ObjectStore) -> int:
    """How many entries the log holds (one past the last entry's index)."""
    last = None
    for key in store.list_keys("ledger/entries/"):
        last = key
    return int(last.rsplit("/", 1)[1].split(".")[0]) + 1 if last else 0


def covering_head_key(store: ObjectStore, index: int) -> str | None:
    """The first published head that includes entry ``index``."""
    for key in store.list_keys("ledger/heads/"):
        if int(key.rsplit("/", 1)[1].split(".")[0]) > index:
            return key
    return None


def capture_entries(store: ObjectStore, capture_id: str) -> list[Entry]:
    """The entries recorded for one capture, in log order (parsed, not yet verified)."""
    return [
        Entry.from_data(store.get_bytes(key))
        for key in store.list_keys(capture_entries_prefix(capture_id))
    ]
