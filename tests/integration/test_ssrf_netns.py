"""The address policy live, with DNS names the test controls, in a network namespace.

The probe (tests/support/netns_probe.py) runs in a namespace of its own: no
route out, a canary on loopback, a test site on a "public" address of a dummy
interface, and /etc/hosts bind-mounted so the system resolver answers what this
test says. The fetcher has no allow-list, as in production. Nothing here can
reach any other host, even if the guard were broken.

The namespace is made with root's ``unshare``, or without root in a user
namespace (``tests.support.netns``); when neither is possible these tests fail
under CI rather than vanish.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import netns
from tests.support.netns_probe import HOSTS, PUBLIC
from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    namespace = netns.command()  # fails under CI when none can be made, never skips there
    hosts = tmp_path_factory.mktemp("netns") / "hosts"
    hosts.write_text(HOSTS)
    done = subprocess.run(
        [
            *namespace,
            sys.executable,
            "-m",
            "tests.support.netns_probe",
            str(hosts),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_public_name_is_fetched(probe):
    assert probe["results"]["public"] == f"fetched 200 from {PUBLIC}"


@pytest.mark.parametrize("name", ["evil", "evil6", "internal", "metadata", "mixed"])
def test_names_resolving_to_non_public_addresses_are_refused(probe, name):
    # mixed.test answers a public AND a loopback address: every address is checked
    assert probe["results"][name] == "refused policy_refused"


@pytest.mark.parametrize(
    "name", ["to-evil", "to-loopback", "to-v6", "to-decimal", "to-metadata", "to-file"]
)
def test_redirects_to_non_public_places_are_refused(probe, name):
    assert probe["results"][name].startswith("refused ")
    assert probe["site_hits"][f"/{name}"] == 1  # the redirect itself was fetched


def test_a_name_that_starts_answering_loopback_is_refused_from_then_on(probe):
    assert probe["results"]["flip-before"] == f"fetched 200 from {PUBLIC}"
    assert probe["results"]["flip-after"] == "refused policy_refused"


def test_the_canary_was_never_reached(probe):
    assert probe["canary_hits"] == 0
