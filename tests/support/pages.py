"""Page capture in unit tests: an archiver over the in-package fake store, and requests."""

from archivers.capture.archiver import CaptureRequest, PageArchiver
from archivers.clock import utc_now
from archivers.net.addresses import parse_allow_list
from archivers.net.fetcher import Fetcher, FetchSettings
from archivers.store import layout
from archivers.store.memory import MemoryStore

AGENT = {"name": "warcflow", "version": "test"}


def make(site, **limits):
    store = MemoryStore()
    fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow), **limits))
    return PageArchiver(fetcher, store, agent=AGENT), store


def request_for(url, offset=1):
    now = utc_now()
    cid = layout.capture_id("warcflow.ingest", 0, offset, int(now.timestamp() * 1000))
    return CaptureRequest(
        cid,
        url,
        now,
        request={"request_id": "r1", "tags": ["kazan"]},
        provenance={"topic": "warcflow.ingest", "partition": 0, "offset": offset},
    )
