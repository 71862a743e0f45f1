"""Chromium is fenced (security review F6), live, where it has a way out.

The probe (tests/support/netns_browser_fence_probe.py) gives the namespace a
veth pair whose other end, in a namespace of its own, is ``internal.test``
(10.0.0.5) with a UDP (STUN) and a TCP canary; a page tries WebRTC STUN/TURN,
DNS prefetch, preconnect, WebSocket, fetch and a service worker while the
worker's environment holds a canary S3 secret. Before the fence, the UDP
canary got 10 STUN packets, Chromium ran as root without its sandbox
(seccomp 0 in every renderer) in the worker's own network, and the secret was
in its environment. Now: nothing reaches either canary, every Chromium process
runs as ``nobody`` in a network namespace of its own, renderers are
seccomp-filtered, and no process holds the secret.

Needs root, ``unshare``, ``ip`` and Debian's chromium: it fails (never skips)
where it cannot make its namespaces.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.netns_probe import HOSTS
from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    hosts = tmp_path_factory.mktemp("netns-browser-fence") / "hosts"
    hosts.write_text(HOSTS)
    # files, not pipes: a helper process that outlives the probe (Chromium's
    # crash handler, say) must not keep the test waiting for an end of file
    out, err = hosts.with_name("stdout"), hosts.with_name("stderr")
    with open(out, "w") as stdout, open(err, "w") as stderr:
        done = subprocess.run(
            [
                "unshare",
                "--net",
                "--mount",
                "--propagation",
                "private",
                sys.executable,
                "-m",
                "tests.support.netns_browser_fence_probe",
                str(hosts),
            ],
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            timeout=240,
        )
    assert done.returncode == 0, err.read_text()[-3000:]
    return json.loads(out.read_text().strip().splitlines()[-1])


def test_the_page_is_captured_in_the_browser(probe):
    assert probe["status"] == "stored" and probe["mode"] == "browser"


def test_nothing_reaches_the_other_side_of_the_veth(probe):
    assert probe["udp_packets"] == 0  # STUN/TURN over UDP
    assert probe["tcp_connections"] == 0  # preconnect, WebSocket, fetch


def test_every_chromium_process_is_unprivileged_in_a_network_of_its_own(probe):
    processes = probe["processes"]
    assert processes, "the probe saw no Chromium process"
    assert {p["uid"] for p in processes} == {65534}  # nobody
    assert all(p["own_network"] for p in processes)


def test_renderers_run_in_chromiums_sandbox(probe):
    # seen more than once: a renderer sampled in the instant after its fork has
    # not applied its seccomp filter yet
    renderers = [p for p in probe["processes"] if p["type"] == "renderer" and p["samples"] > 1]
    assert renderers and all(p["seccomp"] == 2 for p in renderers)


def test_no_chromium_process_holds_the_workers_secret(probe):
    assert not any(p["secret_in_environ"] for p in probe["processes"])
