"""The catalog benchmark's synthetic events (benchmarks.catalog_events): real
capture events whose manifest and index the viewer's catalog applies."""

import itertools
import json
from collections import Counter

from benchmarks.catalog_events import Synthetic
from benchmarks.catalog_run import EventObjects
from streams.messages.base import parse_json
from viewer.catalog import Catalog


def test_the_events_have_the_shape_the_benchmark_claims():
    synthetic = Synthetic(1000)
    events = list(synthetic.events())
    assert [e.offset for e in events] == list(range(1000))
    docs = [parse_json(e.value) for e in events]
    schemas = Counter(d["schema"] for d in docs)
    assert set(schemas) == {"warcflow.CaptureStored", "warcflow.CaptureFailed"}
    assert 0.02 < schemas["warcflow.CaptureFailed"] / 1000 < 0.08
    urls = Counter(e.url for e in events)
    assert synthetic.distinct == len(urls) and 0.75 < len(urls) / 1000 < 0.85  # recaptures
    assert max(urls.values()) >= 2
    hosts = Counter(url.split("/")[2] for url in urls)
    assert len(hosts) == synthetic.hosts == 10  # at least ten hosts
    assert hosts.most_common(1)[0][1] > 3 * min(hosts.values())  # skewed: big platforms
    assert len({url.rsplit("/status/", 1)[0] for url in urls}) > 200  # many users per host
    again = itertools.islice(Synthetic(1000).events(), 50)
    assert [e.value for e in again] == [e.value for e in events[:50]]  # deterministic


def test_the_viewer_catalog_applies_every_event_without_quarantine(tmp_path):
    catalog, store = Catalog(tmp_path / "c.sqlite"), EventObjects()
    events = list(Synthetic(100).events())
    for item in events:
        store.objects = item.objects
        catalog.apply(0, item.offset, parse_json(item.value), store)
    counts = catalog.counts()
    assert counts["quarantined"] == 0 and counts["captures"] == 100
    stored = [e for e in events if json.loads(e.value)["status"] == "stored"]
    assert counts["cdx"] == 5 * len(stored)
    newest = events[-1]
    found = catalog.captures_of(newest.url)
    assert found[0]["capture_id"] == json.loads(newest.value)["capture_id"]
