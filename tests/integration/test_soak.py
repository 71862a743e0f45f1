"""The fault soak, short: ``make soak`` runs it first, then the soak at 1,000
submissions and 20 kills (``tests.support.soak``). Not part of ``make test``
(marked ``soak``): the fault tests of tests/integration/test_faults.py are.

Submissions of every kind of page mixed with every hostile message kind, while
workers are killed with SIGKILL, the viewer is killed, and the broker and the
S3 server are each stopped and restarted; then every submission and media
request has exactly one terminal outcome (the one its page ends in), every
hostile message its dead letter, the ledger every event once and every
download, and the viewer lists every stored capture (tests/support/soak.py).
"""

from __future__ import annotations

import pytest

from tests.support.soak import Soak

pytestmark = [pytest.mark.integration, pytest.mark.soak]


@pytest.mark.timeout(1200)
def test_nothing_is_lost_or_duplicated_under_faults(stack, tmp_path):
    soak = Soak(tmp_path, submissions=40, kills=3, stack=stack, seed=20, outage_seconds=5)
    figures = soak.run()
    print(figures.table())
    report = figures.to_dict()
    assert soak.failures == [], soak.failures
    assert report["lost_total"] == 0, report["lost"]
    assert report["duplicated"] == 0, report["duplicates"]
    assert figures.kills >= 3 and figures.outages == {"broker": 1, "s3": 1}
    assert figures.viewer_kills == 1 and sum(figures.hostile.values()) >= 30
    assert report["outcomes"]["pending"] == 0 and report["media"]["pending"] == 0
