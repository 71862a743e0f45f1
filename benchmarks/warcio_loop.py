"""The plain-Python peer of the page benchmark: warcio's ``capture_http`` + requests.

    python -m benchmarks.warcio_loop URLS.txt OUT.warc.gz

What a developer writes when asked to archive a list of pages with warcio: one
``requests.Session``, one page after another, each page's ``href``/``src``
requisites fetched after it, every exchange recorded into one gzip WARC on
local disk. Prints ``{"pages": N, "requests": M}``.
"""

from __future__ import annotations

import json
import re
import sys

import requests
from warcio.capture_http import capture_http  # before requests, which it patches
from warcio.warcwriter import WARCWriter

LINK = re.compile(r'<(?:link[^>]+href|img[^>]+src|script[^>]+src)="([^"]+)"')


def main() -> None:
    with open(sys.argv[1]) as listing:
        urls = [line.strip() for line in listing if line.strip()]
    out = sys.argv[2]
    fetched = 0
    with open(out, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        session = requests.Session()
        with capture_http(writer):
            for url in urls:
                page = session.get(url, timeout=30)
                fetched += 1
                for link in LINK.findall(page.text):
                    session.get(requests.compat.urljoin(url, link), timeout=30)
                    fetched += 1
    print(json.dumps({"pages": len(urls), "requests": fetched}))


if __name__ == "__main__":
    main()
