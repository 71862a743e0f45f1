"""The book of watches: what is watched and which items each watch has seen.

Pure state, fed record by record from the two compacted topics (``log``) and
from the settings. Invariants: a watch from the topic replaces a settings
watch of the same id; a tombstone removes a topic watch but never a settings
one; an item is "seen" by a watch once a WatchSeen record for (watch, item URL)
has been written, whoever wrote it; no watch is polled more often than
``min_every`` (``WARCFLOW_WATCH_MIN_EVERY``) whatever its record on the topic
says — the CLI refuses such a watch, a record written by anything else is held
to the same minimum (review F11).
"""

from __future__ import annotations

import dataclasses
import logging

from streams.watchers.definitions import InvalidWatch, Watch, decode_watch, url_hash
from streams.watchers.items import Item

log = logging.getLogger("warcflow.watch")


class WatchBook:
    def __init__(self, configured: tuple[Watch, ...] = (), *, min_every: float = 0.0) -> None:
        self.min_every = min_every
        self._configured = {w.id: w for w in configured}
        self._topic: dict[str, Watch] = {}
        self._seen: dict[str, set[str]] = {}

    def apply_watch(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the watches topic; a bad record is logged and ignored."""
        name = (key or b"").decode("utf-8", errors="replace")
        if value is None:
            self._topic.pop(name, None)
            return
        try:
            watch = decode_watch(value)
        except InvalidWatch as exc:
            log.warning("ignoring watch record %r: %s", name, exc)
            return
        if watch.id != name:  # a tombstone for its key could never remove it
            log.warning("ignoring watch record %r: its value is watch %s", name, watch.id)
            return
        if watch.every < self.min_every:
            log.warning(
                "watch %s asks to be polled every %g s; polled every %g s "
                "(WARCFLOW_WATCH_MIN_EVERY)",
                watch.id,
                watch.every,
                self.min_every,
            )
            watch = dataclasses.replace(watch, every=self.min_every)
        self._topic[watch.id] = watch

    def apply_seen(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the watch-seen topic (key ``<watch id>/<url hash>``)."""
        watch, sep, digest = (key or b"").decode("ascii", errors="replace").partition("/")
        if not sep:
            return
        if value is None:
            self._seen.get(watch, set()).discard(digest)
        else:
            self._seen.setdefault(watch, set()).add(digest)

    def watches(self) -> list[Watch]:
        """Every watch, settings ones first, each id once."""
        merged = {**self._configured, **self._topic}
        return list(merged.values())

    def get(self, watch_id: str) -> Watch | None:
        return self._topic.get(watch_id) or self._configured.get(watch_id)

    def new_items(self, watch_id: str, items: list[Item]) -> list[Item]:
        """The items ``watch_id`` has not seen, in the order given."""
        seen = self._seen.get(watch_id, set())
        return [item for item in items if url_hash(item.url) not in seen]

    def mark(self, watch_id: str, url: str) -> None:
        self._seen.setdefault(watch_id, set()).add(url_hash(url))

    def seen_count(self, watch_id: str) -> int:
        return len(self._seen.get(watch_id, ()))
