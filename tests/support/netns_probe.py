"""Runs inside a fresh network + mount namespace (``unshare``): the fetcher with
no allow-list, the system resolver, and DNS names this probe controls.

    unshare --net --mount --propagation private python -m tests.support.netns_probe HOSTS

Inside, nothing leads out of the namespace: its only interface is its own
``lo``, which also carries a "public" address (``PUBLIC``) where a test site
listens; a canary server listens on 127.0.0.1. ``/etc/hosts`` is bind-mounted from ``HOSTS`` so
``getaddrinfo`` answers what the test says. Prints one JSON object: what each
fetch did and how many hits the canary got (which must be 0).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

PUBLIC = "45.0.0.10"
"""A globally routable address, on this namespace's own loopback interface only."""
PORT = 8080

HOSTS = f"""127.0.0.1 localhost
::1 localhost6
{PUBLIC} public.test
127.0.0.1 evil.test
::1 evil6.test
10.0.0.5 internal.test
169.254.169.254 metadata.test
{PUBLIC} mixed.test
127.0.0.1 mixed.test
{PUBLIC} flip.test
"""


def setup(hosts_path: str) -> None:
    for argv in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "addr", "add", f"{PUBLIC}/32", "dev", "lo"],
        ["mount", "--bind", hosts_path, "/etc/hosts"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


async def outcome(fetcher, url: str) -> str:
    from archivers.errors import CaptureError

    try:
        chain = await fetcher.fetch_chain(url)
        return f"fetched {chain[-1].status} from {chain[-1].ip}"
    except CaptureError as exc:
        return f"refused {exc.reason}"


def main() -> None:
    setup(sys.argv[1])
    from archivers.net.fetcher import Fetcher, FetchSettings
    from tests.support.site import Route, TestSite

    canary_url = f"http://evil.test:{PORT}/secret"
    with TestSite("127.0.0.1", port=PORT) as canary, TestSite(PUBLIC, port=PORT) as site:
        site.routes["/ok"] = Route(b"<p>public</p>")
        for name, target in {
            "to-evil": canary_url,
            "to-loopback": f"http://127.0.0.1:{PORT}/",
            "to-v6": f"http://[::1]:{PORT}/",
            "to-decimal": f"http://2130706433:{PORT}/",
            "to-metadata": "http://metadata.test/latest/meta-data/",
            "to-file": "file:///etc/passwd",
        }.items():
            site.routes[f"/{name}"] = Route(b"", status=302, headers=[("Location", target)])
        fetcher = Fetcher(FetchSettings(connect_timeout=2, total_timeout=5))
        urls = {
            "public": f"http://public.test:{PORT}/ok",
            "evil": canary_url,
            "evil6": f"http://evil6.test:{PORT}/",
            "internal": f"http://internal.test:{PORT}/",
            "metadata": "http://metadata.test/latest/meta-data/",
            "mixed": f"http://mixed.test:{PORT}/ok",
            **{
                name: f"http://public.test:{PORT}/{name}"
                for name in (
                    "to-evil",
                    "to-loopback",
                    "to-v6",
                    "to-decimal",
                    "to-metadata",
                    "to-file",
                )
            },
        }

        async def run_all() -> dict:
            return {name: await outcome(fetcher, url) for name, url in urls.items()}

        results = asyncio.run(run_all())
        # the name now answers loopback (a rebinding attack between two requests):
        # every request resolves afresh and checks what it will connect to
        text = open(sys.argv[1]).read().replace(f"{PUBLIC} flip.test", "127.0.0.1 flip.test")
        results["flip-before"] = asyncio.run(outcome(fetcher, f"http://flip.test:{PORT}/ok"))
        with open(sys.argv[1], "w") as hosts:  # the bind mount shows the same file
            hosts.write(text)
        results["flip-after"] = asyncio.run(outcome(fetcher, f"http://flip.test:{PORT}/ok"))
        print(
            json.dumps(
                {
                    "results": results,
                    "canary_hits": sum(canary.hits.values()),
                    "site_hits": dict(site.hits),
                }
            )
        )


if __name__ == "__main__":
    main()
