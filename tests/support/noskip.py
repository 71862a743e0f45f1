"""Under CI a test that did not run is a failure: the suite cannot lose tests quietly.

A pytest plugin (``tests/conftest.py`` loads it). With ``CI=true`` (``.ci/run``
and GitHub Actions set it), every skipped or xfailed test is listed at the end
and the run fails, whatever the reason: a missing tool is fixed by the set-up
(``infra/system-deps.sh``), not by a green run that tested less. Elsewhere
skips are reported as usual (``-ra``).
"""

from __future__ import annotations

import os

import pytest

_skipped: list[tuple[str, str]] = []


def ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        why = getattr(report, "wasxfail", None)
        if why is None and isinstance(report.longrepr, tuple):
            why = report.longrepr[2]
        _skipped.append((report.nodeid, str(why or "skipped")))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if ci() and _skipped:
        terminalreporter.section("tests that did not run under CI (each fails the run)", red=True)
        for nodeid, why in _skipped:
            terminalreporter.line(f"NOT RUN {nodeid}: {why}")


def pytest_sessionfinish(session, exitstatus) -> None:
    if ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
