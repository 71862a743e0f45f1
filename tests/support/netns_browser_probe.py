"""The browser capture's address policy, live, in a network namespace of its own.

    unshare --net --mount --propagation private python -m tests.support.netns_browser_probe HOSTS

Same namespace as ``tests.support.netns_probe`` (whose ``setup`` and names it
uses): a "public" test site, a canary on loopback, ``/etc/hosts`` written by
the test, no allow-list and no way out. A page on the public site makes the
browser ask, by markup and by script, for the canary under every disguise the
fetcher's own probe uses; the page is captured in Chromium. Prints one JSON
object: the capture's status, the reason recorded for each refused URL, the
public site's and the canary's hits (which must be 0).
"""

from __future__ import annotations

import asyncio
import json
import sys

from tests.support.netns_probe import PORT, PUBLIC, setup

DISGUISES = {
    "name": f"http://evil.test:{PORT}/by-name.png",
    "literal": f"http://127.0.0.1:{PORT}/by-literal.png",
    "v6": f"http://[::1]:{PORT}/by-v6.png",
    "decimal": f"http://2130706433:{PORT}/by-decimal.png",
    "metadata": "http://metadata.test/latest/meta-data/",
    "internal": f"http://internal.test:{PORT}/",
    "mixed": f"http://mixed.test:{PORT}/by-mixed.png",
    "redirect": f"http://public.test:{PORT}/to-evil.png",
}


def page() -> bytes:
    images = "".join(
        f'<img src="{url}">'
        for key, url in DISGUISES.items()
        if key not in ("metadata", "internal")
    )
    return (
        f"""<!doctype html><html><head><title>probe</title>
<link rel="preconnect" href="http://evil.test:{PORT}/">
<script src="http://evil.test:{PORT}/evil.js"></script></head>
<body><p id="text">a public post</p>{images}
<script>
fetch("{DISGUISES["metadata"]}").catch(function () {{}});
fetch("{DISGUISES["internal"]}", {{method: "POST", body: "x"}}).catch(function () {{}});
var x = new XMLHttpRequest(); x.open("GET", "http://evil.test:{PORT}/xhr"); x.send();
</script></body></html>"""
    ).encode()


def main() -> None:
    setup(sys.argv[1])
    from archivers.capture.archiver import CaptureRequest, PageArchiver
    from archivers.capture.browser import Browser, BrowserSettings
    from archivers.clock import utc_now
    from archivers.manifests.manifest import CAPTURE_METADATA_SCHEMA, read_metadata_record
    from archivers.net.fetcher import Fetcher, FetchSettings
    from archivers.store import layout
    from archivers.store.memory import MemoryStore
    from tests.support.site import Route, TestSite

    with TestSite("127.0.0.1", port=PORT) as canary, TestSite(PUBLIC, port=PORT) as site:
        site.routes["/post"] = Route(page())
        site.routes["/to-evil.png"] = Route(
            b"", status=302, headers=[("Location", f"http://evil.test:{PORT}/after-redirect.png")]
        )
        store = MemoryStore()
        archiver = PageArchiver(
            Fetcher(FetchSettings(connect_timeout=2, total_timeout=5)),
            store,
            agent={"name": "warcflow"},
            browser=Browser(BrowserSettings(idle_timeout=2, timeout=60)),
        )
        now = utc_now()
        request = CaptureRequest(
            layout.capture_id("probe", 0, 0, int(now.timestamp() * 1000)),
            f"http://public.test:{PORT}/post",
            now,
            mode="browser",
        )

        async def run():
            try:
                return await archiver.capture(request)
            finally:
                await archiver.browser.close()

        manifest = asyncio.run(run()).manifest
        with store.open(manifest.warc_key) as stream:
            meta = read_metadata_record(stream, CAPTURE_METADATA_SCHEMA)
        print(
            json.dumps(
                {
                    "status": manifest.status,
                    "mode": manifest.mode,
                    "screenshot": bool(manifest.screenshot_key),
                    "refused": {f["url"]: f["reason"] for f in meta["requisite_failures"]},
                    "canary_hits": sum(canary.hits.values()),
                    "site_hits": dict(site.hits),
                }
            )
        )


if __name__ == "__main__":
    main()
