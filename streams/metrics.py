"""What a worker counts, for Prometheus: messages, outcomes, failures, bytes, time, lag.

One ``Metrics`` per worker process, in its own registry (nothing global), so
tests can make as many as they like. Names follow Prometheus conventions
(``_total`` counters, ``_seconds`` histograms); every series has a ``stage``
label (``capture``, ``media``), the watchers' a ``kind`` label, the sessions'
``site`` and ``state``. docs/operations.md lists them (a test checks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("warcflow.worker")

SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800)

Lag = Callable[[], Iterable[tuple[str, int, int]]]
"""(topic, partition, messages behind) for each partition of the worker's group."""
SessionCounts = Callable[[], Iterable[tuple[str, str, int]]]
"""(site, state, sessions) of the worker's session vault (``SessionPool.counts``)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.handled = Counter(
            "warcflow_messages",
            "Messages handled, by outcome (stored, failed, retry, dead-letter)",
            ["stage", "outcome"],
            registry=r,
        )
        self.failures = Counter(
            "warcflow_attempt_failures",
            "Failed attempts, by reason (http_503, store_unavailable, policy_refused, …)",
            ["stage", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "warcflow_dead_letters",
            "Messages sent to the dead-letter topic, by reason",
            ["stage", "reason"],
            registry=r,
        )
        self.stored_bytes = Counter(
            "warcflow_stored_bytes", "Bytes of WARCs and media stored", ["stage"], registry=r
        )
        self.seconds = Histogram(
            "warcflow_handle_seconds",
            "Time to handle one message (first attempts), from taking it to its outcome produced",
            ["stage"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.canary_ok = Gauge(
            "warcflow_canary_ok",
            "1 if the last extractor canary capture worked, 0 if not",
            registry=r,
        )
        self.canary_last_ok = Gauge(
            "warcflow_canary_last_ok_timestamp_seconds",
            "When the extractor canary last worked (Unix time)",
            registry=r,
        )
        self.canary_runs = Counter(
            "warcflow_canary_runs", "Extractor canary runs, by outcome", ["outcome"], registry=r
        )
        self.watch_polls = Counter(
            "warcflow_watch_polls",
            "Polls of watched sources, by kind and outcome (ok, failed)",
            ["kind", "outcome"],
            registry=r,
        )
        self.watch_failures = Counter(
            "warcflow_watch_failures",
            "Failed polls of watched sources, by kind and reason (http_503, not_xml, …)",
            ["kind", "reason"],
            registry=r,
        )
        self.watch_submitted = Counter(
            "warcflow_watch_submitted",
            "URLs submitted to the ingest topic by watchers, by kind",
            ["kind"],
            registry=r,
        )
        self.sessions_marked = Counter(
            "warcflow_sessions_marked",
            "Sessions this worker marked expired or challenged, by site and state",
            ["site", "state"],
            registry=r,
        )
        self._lag: Lag | None = None
        self._lag_cache: tuple[float, list] = (0.0, [])
        self._sessions: SessionCounts | None = None
        r.register(_LagCollector(self))
        r.register(_SessionsCollector(self))
        self.started = time.time()

    def observe(self, stage: str, outcome: str, seconds: float | None) -> None:
        """One message handled; ``seconds`` None for retries (their wait is backoff)."""
        self.handled.labels(stage, outcome).inc()
        if seconds is not None:
            self.seconds.labels(stage).observe(seconds)

    def failure(self, stage: str, reason: str) -> None:
        self.failures.labels(stage, reason.split(":", 1)[0]).inc()

    def dead_letter(self, stage: str, reason: str) -> None:
        self.dead_letters.labels(stage, reason).inc()

    def stored(self, stage: str, size: int | None) -> None:
        if size:
            self.stored_bytes.labels(stage).inc(size)

    def canary(self, ok: bool) -> None:
        self.canary_ok.set(1 if ok else 0)
        self.canary_runs.labels("ok" if ok else "failed").inc()
        if ok:
            self.canary_last_ok.set(time.time())

    def watch_poll(self, kind: str, outcome: str, reason: str | None = None) -> None:
        """One poll of a watch (``kind`` ``all`` when the watch state could not be read)."""
        self.watch_polls.labels(kind, outcome).inc()
        if reason:
            self.watch_failures.labels(kind, reason).inc()

    def watch_items(self, kind: str, submitted: int) -> None:
        self.watch_submitted.labels(kind).inc(submitted)

    def session_marked(self, marked) -> None:
        """A ``notices.Listener``: one session marked (``SessionMarked``)."""
        self.sessions_marked.labels(marked.session["site"], marked.state).inc()

    def follow_sessions(self, counts: SessionCounts) -> None:
        """Report the vault's sessions by site and state on each scrape."""
        self._sessions = counts

    def session_counts(self) -> list[tuple[str, str, int]]:
        if self._sessions is None:
            return []
        try:
            return list(self._sessions())
        except Exception:  # a scrape must not fail on an unreadable vault
            log.warning("cannot count the sessions for /metrics", exc_info=True)
            return []

    def follow_lag(self, lag: Lag) -> None:
        """Report consumer lag on each scrape (computed at most every 5 s)."""
        self._lag = lag

    def lag(self) -> list:
        if self._lag is None:
            return []
        at, cached = self._lag_cache
        if time.monotonic() - at > 5:
            try:
                cached = list(self._lag())
            except Exception:  # noqa: BLE001 - a scrape must not fail on a broker hiccup
                cached = []
            self._lag_cache = (time.monotonic(), cached)
        return cached

    def totals(self) -> dict[str, int]:
        """Messages handled by outcome, over all stages (for /healthz)."""
        out: dict[str, int] = {}
        for metric in self.handled.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    outcome = sample.labels["outcome"]
                    out[outcome] = out.get(outcome, 0) + int(sample.value)
        return out


class _LagCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        family = GaugeMetricFamily(
            "warcflow_consumer_lag",
            "Messages not yet consumed by the workers' group, per partition",
            labels=["topic", "partition"],
        )
        for topic, partition, behind in self.metrics.lag():
            family.add_metric([topic, str(partition)], behind)
        yield family


class _SessionsCollector:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self):
        family = GaugeMetricFamily(
            "warcflow_sessions",
            "Sessions of the worker's vault, by site and state (active, expired, challenged)",
            labels=["site", "state"],
        )
        for site, state, count in self.metrics.session_counts():
            family.add_metric([site, state], count)
        yield family
