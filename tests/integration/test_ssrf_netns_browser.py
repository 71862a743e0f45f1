"""The browser capture's address policy live, without an allow-list, in a network
namespace (tests/support/netns_browser_probe.py): whatever a page makes Chromium
ask for — by name, literal, IPv6, decimal, metadata, mixed answers, a redirect,
markup, script, XHR, POST, preconnect — reaches only the fetcher, which refuses
it; the canary on the namespace's loopback sees nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import netns
from tests.support.netns_browser_probe import DISGUISES
from tests.support.netns_probe import HOSTS
from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    namespace = netns.command()  # fails under CI when none can be made, never skips there
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    hosts = tmp_path_factory.mktemp("netns-browser") / "hosts"
    hosts.write_text(HOSTS)
    done = subprocess.run(
        [
            *namespace,
            sys.executable,
            "-m",
            "tests.support.netns_browser_probe",
            str(hosts),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_page_is_captured_in_the_browser(probe):
    assert probe["status"] == "stored" and probe["mode"] == "browser" and probe["screenshot"]


@pytest.mark.parametrize("disguise", sorted(set(DISGUISES) - {"redirect"}))
def test_every_disguise_of_a_private_address_is_refused(probe, disguise):
    url = DISGUISES[disguise]
    found = {u.rstrip("/"): r for u, r in probe["refused"].items()}
    canonical = {"decimal": url.replace("2130706433", "127.0.0.1")}.get(disguise, url)
    assert (
        found.get(url.rstrip("/")) == "policy_refused"
        or found.get(canonical.rstrip("/")) == "policy_refused"
    ), probe["refused"]


def test_a_redirect_into_the_network_is_refused_after_its_first_hop(probe):
    assert probe["refused"][DISGUISES["redirect"]] == "policy_refused"
    assert probe["site_hits"]["/to-evil.png"] == 1


def test_the_canary_was_never_reached(probe):
    assert probe["canary_hits"] == 0
