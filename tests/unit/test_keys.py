from datetime import UTC, datetime

import pytest

from archivers.store import layout


def test_capture_id_is_deterministic_and_dated():
    a = layout.capture_id("warcflow.ingest", 0, 41, 1764064977123)
    assert a == layout.capture_id("warcflow.ingest", 0, 41, 1764064977123)
    assert a != layout.capture_id("warcflow.ingest", 0, 42, 1764064977123)
    assert a != layout.capture_id("warcflow.ingest", 1, 41, 1764064977123)
    assert len(a) == 26 and layout.is_capture_id(a)
    assert layout.capture_time(a) == datetime(2025, 11, 25, 10, 2, 57, 123000, UTC)


def test_ids_sort_by_time():
    ids = [layout.capture_id("t", 0, n, 1764064977000 + n * 1000) for n in range(20)]
    assert sorted(ids) == ids


def test_keys_follow_the_documented_layout():
    cid = layout.capture_id("t", 0, 1, 1764064977123)
    assert layout.warc_key(cid) == f"warc/2025/11/25/{cid}.warc.gz"
    manifest = layout.manifest_key("https://www.example.com/post/1", cid)
    assert manifest.startswith(layout.manifest_prefix("http://example.com/post/1"))
    assert manifest.endswith(f"/20251125T100257Z-{cid}.json")


@pytest.mark.parametrize("bad", ["", "x" * 26, "01M894TV61TJ0X30734E5QKMX", "not-an-id"])
def test_malformed_ids_are_rejected(bad):
    assert not layout.is_capture_id(bad)
    with pytest.raises(ValueError):
        layout.capture_time(bad)
