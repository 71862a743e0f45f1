"""Settings of the watchers, built once by the entry point."""

from __future__ import annotations

from dataclasses import dataclass

from streams.watchers.definitions import Watch


@dataclass(frozen=True)
class WatchSettings:
    """Times in seconds.

    ``enabled``: this worker runs the watchers when it leads the consumer group
    (only the leader polls, so all workers should agree on it). ``watches``:
    watches from the settings (``WARCFLOW_WATCHES``), polled besides those on
    the watches topic.
    ``min_every``: the shortest period a watch may have. ``max_backoff``: the
    longest wait after failed polls (never less than the watch's period).
    ``max_items``: items submitted per poll; the rest wait for the next poll.
    """

    enabled: bool = True
    watches: tuple[Watch, ...] = ()
    min_every: float = 60.0
    max_backoff: float = 3600.0
    max_items: int = 500
