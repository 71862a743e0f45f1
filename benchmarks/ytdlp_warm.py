"""yt-dlp's own Python API, warm: one process, N downloads of URL into fresh folders.

    python -m benchmarks.ytdlp_warm URL N CONCURRENT_FRAGMENTS

Prints one JSON line per download with its ``seconds`` (the first is the
warm-up). The engine-to-engine counterpart of ``tests.support.capture_media``.
"""

import json
import sys
import tempfile
import time

import yt_dlp


def main(url: str, repeat: int, fragments: int) -> None:
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            params = {
                "outtmpl": {"default": "media.%(ext)s"},
                "paths": {"home": folder},
                "quiet": True,
                "no_warnings": True,
                "noprogress": True,
                "cachedir": False,
                "concurrent_fragment_downloads": fragments,
            }
            start = time.perf_counter()
            with yt_dlp.YoutubeDL(params) as ydl:
                ydl.extract_info(url, download=True)
            print(json.dumps({"seconds": round(time.perf_counter() - start, 4)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
