"""Decompression bombs against media capture, in a child process whose disk and
memory are measured (security review F4).

    python -m tests.support.bombs direct|stream

A local site serves a 512 MiB run of zeros gzip-compressed to ~510 KB as
``Content-Encoding: gzip`` "mp4" (``direct``), or as the one segment of an HLS
playlist (``stream``, the fenced yt-dlp's path), to a media archiver with a
1 MiB limit. The child runs with ``RLIMIT_FSIZE`` at 64 MiB (a write past it
fails with EFBIG instead of filling the disk) and reports one JSON object: the
outcome, the largest file it wrote (a watcher thread samples the work
directory; the limit would stop anything bigger) and its peak RSS in MiB.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import resource
import signal
import sys
import tempfile
import threading
from pathlib import Path

DECODED = 512 * 1024 * 1024
LIMIT = 1024 * 1024
FILE_CAP = 64 * 1024 * 1024


def bomb() -> bytes:
    """``DECODED`` zero bytes, gzip level 9 (~510 KB), packed a MiB at a time."""
    sink = io.BytesIO()
    zeros = b"\0" * (1024 * 1024)
    with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=9) as packer:
        for _ in range(DECODED // len(zeros)):
            packer.write(zeros)
    return sink.getvalue()


def peak_rss_mib() -> int:
    """This process's own peak RSS (VmHWM: unlike ru_maxrss, not inherited across
    exec from a large parent such as pytest)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    kind = sys.argv[1]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG, not death, past the file cap
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_CAP, FILE_CAP))
    from archivers.clock import utc_now
    from archivers.errors import CaptureError
    from archivers.media.archiver import MediaArchiver, MediaRequest, MediaSettings
    from archivers.net.addresses import parse_allow_list
    from archivers.net.fetcher import Fetcher, FetchSettings
    from archivers.store import layout
    from archivers.store.memory import MemoryStore
    from tests.support.site import Route, TestSite

    body = bomb()
    workdir = Path(tempfile.mkdtemp())
    largest = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for root, _dirs, files in os.walk(workdir):
                for name in files:
                    try:
                        largest[0] = max(largest[0], os.path.getsize(os.path.join(root, name)))
                    except OSError:
                        pass
            done.wait(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    with TestSite() as site:
        coded = [("Content-Encoding", "gzip")]
        site.routes["/clip.mp4"] = Route(body, content_type="video/mp4", headers=coded)
        site.routes["/seg0.ts"] = Route(body, content_type="video/mp2t", headers=coded)
        site.routes["/stream.m3u8"] = Route(
            b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            b"#EXTINF:4.0,\n/seg0.ts\n#EXT-X-ENDLIST\n",
            content_type="application/vnd.apple.mpegurl",
        )
        path, media_kind = {
            "direct": ("/clip.mp4", "direct"),
            "stream": ("/stream.m3u8", "stream"),
        }[kind]
        fetcher = Fetcher(FetchSettings(allow=parse_allow_list(site.allow)))
        archiver = MediaArchiver(
            fetcher, MemoryStore(), MediaSettings(max_bytes=LIMIT), agent={}, workdir=workdir
        )
        now = utc_now()
        parent = layout.capture_id("bomb", 0, 0, int(now.timestamp() * 1000))
        url = site.url(path)
        request = MediaRequest(
            layout.media_id(parent, url), parent, site.url("/post"), url, media_kind, "t", now
        )
        watcher.start()
        try:
            asyncio.run(archiver.capture(request))
            outcome = "stored"
        except CaptureError as exc:
            outcome = f"refused {exc.reason}"
        except Exception as exc:  # noqa: BLE001 - the test judges what happened
            outcome = f"crashed {type(exc).__name__}: {exc}"[:300]
        finally:
            done.set()
            watcher.join()
    print(
        json.dumps(
            {
                "outcome": outcome,
                "served_bytes": len(body),
                "largest_file": largest[0],
                "peak_rss_mib": peak_rss_mib(),
            }
        )
    )


if __name__ == "__main__":
    main()
