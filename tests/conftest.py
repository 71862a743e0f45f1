"""Shared fixtures. Integration fixtures start real services only when a test asks.

Under CI (``CI=true``) a skipped test fails the run (``tests.support.noskip``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.processes import free_port
from tests.support import warcs
from tests.support.findmedia import lineage_clips
from tests.support.media import MediaSet, make_media
from tests.support.site import TestSite
from tests.support.stack import TestStack, WorkerProcess

pytest_plugins = ["tests.support.noskip"]


@pytest.fixture(scope="session")
def media_set(tmp_path_factory) -> MediaSet:
    """Clips generated with ffmpeg once per session (see tests/support/media.py)."""
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def clip_variants(tmp_path_factory) -> dict[str, Path]:
    """A clip, the five variants reposts make of it and an unrelated clip, made
    once per session (tests/support/findmedia.py)."""
    return lineage_clips(tmp_path_factory.mktemp("variants"))


@pytest.fixture
def canary():
    """A server nothing may reach: tests assert its hit count stays 0."""
    with TestSite() as running:
        yield running


@pytest.fixture
def site():
    with TestSite() as running:
        yield running


@pytest.fixture(scope="module")
def module_site():
    with TestSite() as running:
        yield running


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Kafka (KRaft) and versitygw, started by infra/ on free ports, for the whole session.

    At the end, every WARC the session's tests made warcflow store (page, media,
    browser captures) is checked by two validators that are not warcio, JWAT and
    gowarc (tests/support/warcs.py): a finding fails the session."""
    home = tmp_path_factory.mktemp("warcflow-home")
    services = TestStack(home)
    services.start()
    try:
        yield services
    finally:
        services.stop()
        stored = warcs.stored_warcs(home)
        if stored:
            reports = warcs.assert_valid(stored)
            print(
                f"\n{len(stored)} stored WARCs valid by "
                + ", ".join(sorted({r.tool for r in reports}))
                + f" ({sum(r.records for r in reports if r.tool == reports[0].tool)} records)"
            )


@pytest.fixture(scope="module")
def pipeline(stack, module_site, tmp_path_factory, request):
    """A worker on its own topic prefix and bucket, allowed to fetch the module's test site.
    A module's ``PIPELINE_ENV`` dict adds settings of its worker.

    Yields the environment for CLI calls; the worker is ``pipeline_worker``.
    """
    env = stack.agent_env(
        "t",
        module_site.allow,
        WARCFLOW_WORKER_METRICS=f"127.0.0.1:{free_port()}",
        **getattr(request.module, "PIPELINE_ENV", {}),
    )
    prefix = env["WARCFLOW_TOPIC_PREFIX"]
    log = Path(tmp_path_factory.mktemp("logs")) / "worker.log"
    worker = WorkerProcess(env, log).start()
    try:
        yield {"env": env, "worker": worker, "prefix": prefix, "site": module_site}
    finally:
        worker.stop()
