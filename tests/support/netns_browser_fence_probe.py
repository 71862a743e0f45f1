"""Chromium's fence live (security review F6): a namespace where the browser HAS a
way out, and a canary on the other side of it.

    unshare --net --mount --propagation private \
        python -m tests.support.netns_browser_fence_probe HOSTS

The namespace of ``tests.support.netns_probe`` plus a veth pair: this side is
10.0.0.1/24, the other end sits in a second network namespace (the canary's,
made by ``unshare --net`` here) as 10.0.0.5/24 — ``internal.test`` — with a UDP
canary on 3478 (STUN) and a TCP canary on 8080. So unlike a namespace with only
``lo``, Chromium could gather ICE candidates and send STUN, prefetch DNS, open
a WebSocket or a preconnect to a real interface. A page on the "public" site
tries all of that while the worker's environment holds a canary secret. Prints
one JSON object: the capture's status, what each canary received (must be
nothing), and facts about every Chromium process from /proc (its uid, whether
the secret is in its environment, seccomp mode, network namespace).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support.netns_probe import PORT, PUBLIC, setup

SECRET = "canary-s3-secret-0f6a"
INSIDE = "10.0.0.5"

CANARY = f"""
import json, os, select, socket, subprocess, sys, time
while subprocess.run(["ip", "link", "show", "v1"], capture_output=True).returncode:
    time.sleep(0.02)
for argv in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", "{INSIDE}/24", "dev", "v1"],
             ["ip", "link", "set", "v1", "up"], ["ip", "route", "add", "default", "dev", "v1"]):
    subprocess.run(argv, check=True)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", 3478))
tcp = socket.socket(); tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(("0.0.0.0", {PORT})); tcp.listen(16)
print("ready", flush=True)
while True:
    ready, _, _ = select.select([udp, tcp, sys.stdin], [], [])
    if sys.stdin in ready:
        break
    if udp in ready:
        data, peer = udp.recvfrom(4096)
        print(json.dumps({{"udp": peer[0], "bytes": len(data)}}), flush=True)
    if tcp in ready:
        conn, peer = tcp.accept(); conn.close()
        print(json.dumps({{"tcp": peer[0]}}), flush=True)
"""


def page() -> bytes:
    return f"""<!doctype html><html><head><title>fence probe</title>
<link rel="dns-prefetch" href="//internal.test">
<link rel="preconnect" href="http://{INSIDE}:{PORT}/">
</head><body><p id="text">a public post</p>
<img src="/slow.png">
<script>
try {{
  const pc = new RTCPeerConnection({{iceServers: [
    {{urls: "stun:{INSIDE}:3478"}}, {{urls: "stun:internal.test:3478"}},
    {{urls: "turn:{INSIDE}:3478?transport=udp", username: "u", credential: "p"}}]}});
  pc.createDataChannel("x");
  pc.createOffer().then(o => pc.setLocalDescription(o));
}} catch (e) {{}}
try {{ new WebSocket("ws://{INSIDE}:{PORT}/"); }} catch (e) {{}}
try {{ navigator.serviceWorker.register("/sw.js"); }} catch (e) {{}}
fetch("http://{INSIDE}:{PORT}/by-fetch").catch(function () {{}});
</script></body></html>""".encode()


def _descendants() -> set[int]:
    """Our own process tree (other Chromiums on the machine are not ours to judge)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    ours, grew = {os.getpid()}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in ours} - ours
        ours |= more
        grew = bool(more)
    return ours


def chromium_processes() -> list[dict]:
    own_net = os.readlink("/proc/self/ns/net")
    found = []
    for pid in _descendants():
        entry = Path(f"/proc/{pid}")
        try:
            # Chromium rewrites its children's command line as one string
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").split()
            if not argv or not argv[0].endswith(b"/chromium"):
                continue
            status = dict(
                line.split(":", 1) for line in (entry / "status").read_text().splitlines()
            )
            found.append(
                {
                    "pid": int(entry.name),
                    "type": next(
                        (a.decode()[7:] for a in argv if a.startswith(b"--type=")), "browser"
                    ),
                    "uid": int(status["Uid"].split()[1]),
                    "seccomp": int(status["Seccomp"].strip()),
                    "secret_in_environ": SECRET.encode() in (entry / "environ").read_bytes(),
                    "own_network": os.readlink(entry / "ns/net") != own_net,
                    "argv0": argv[0].decode(),
                }
            )
        except (OSError, KeyError, ValueError):
            continue
    return found


def main() -> None:
    setup(sys.argv[1])
    os.environ["WARCFLOW_S3_SECRET_KEY"] = SECRET  # what the worker's environment holds
    canary = subprocess.Popen(
        ["unshare", "--net", sys.executable, "-c", CANARY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    # ``unshare`` has its own network only once it has called unshare(2): moving the
    # peer before that puts v1 in *this* namespace and the canary waits for it forever
    # (what made this probe fail now and then on a loaded machine)
    ours, deadline = os.readlink("/proc/self/ns/net"), time.monotonic() + 30
    while os.readlink(f"/proc/{canary.pid}/ns/net") == ours:
        assert time.monotonic() < deadline and canary.poll() is None, "no canary namespace"
        time.sleep(0.01)
    subprocess.run(
        ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", str(canary.pid)],
        check=True,
    )
    for argv in (
        ["ip", "addr", "add", "10.0.0.1/24", "dev", "v0"],
        ["ip", "link", "set", "v0", "up"],
    ):
        subprocess.run(argv, check=True)
    assert canary.stdout is not None
    ready, _, _ = select.select([canary.stdout], [], [], 30)
    assert ready and canary.stdout.readline().strip() == "ready", "the canary did not start"

    from archivers.capture.archiver import CaptureRequest, PageArchiver
    from archivers.capture.browser import Browser, BrowserSettings
    from archivers.clock import utc_now
    from archivers.net.fetcher import Fetcher, FetchSettings
    from archivers.store import layout
    from archivers.store.memory import MemoryStore
    from tests.support.site import Route, TestSite

    with TestSite(PUBLIC, port=PORT) as site:
        site.routes["/post"] = Route(page())
        site.routes["/slow.png"] = Route(b"x" * 3000, content_type="image/png", drip=0.1)
        archiver = PageArchiver(
            Fetcher(FetchSettings(connect_timeout=2, total_timeout=10)),
            MemoryStore(),
            agent={"name": "warcflow"},
            browser=Browser(BrowserSettings(idle_timeout=6, timeout=90)),
        )
        now = utc_now()
        request = CaptureRequest(
            layout.capture_id("probe", 0, 0, int(now.timestamp() * 1000)),
            f"http://public.test:{PORT}/post",
            now,
            mode="browser",
        )
        processes: dict[int, dict] = {}
        sampling = threading.Event()

        def sample() -> None:  # renderers live only while a page is open
            while not sampling.wait(0.2):
                for process in chromium_processes():
                    pid = process.pop("pid")
                    known = processes.setdefault(pid, {**process, "samples": 0})
                    # a renderer forked a moment ago has not applied its filter yet
                    known["seccomp"] = max(known["seccomp"], process["seccomp"])
                    known["samples"] += 1

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def run():
            try:
                result = await archiver.capture(request)
                await asyncio.sleep(1)  # STUN retransmits: give a leak time to arrive
                return result
            finally:
                await archiver.browser.close()

        try:
            manifest = asyncio.run(asyncio.wait_for(run(), 150)).manifest
        finally:
            sampling.set()
            sampler.join()
    time.sleep(0.5)
    assert canary.stdin is not None
    canary.stdin.write("stop\n")
    canary.stdin.flush()
    received = [json.loads(line) for line in canary.stdout if line.strip().startswith("{")]
    canary.wait(10)
    print(
        json.dumps(
            {
                "status": manifest.status,
                "mode": manifest.mode,
                "udp_packets": sum(1 for r in received if "udp" in r),
                "tcp_connections": sum(1 for r in received if "tcp" in r),
                "site_hits": dict(site.hits),
                "processes": list(processes.values()),
            }
        )
    )


if __name__ == "__main__":
    main()
