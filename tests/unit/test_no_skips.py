"""The suite cannot silently lose tests: under CI=true a skipped test fails the run."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.stack import ROOT

MODULE = """
import pytest

def test_runs():
    assert True is not False

def test_cannot_run_here():
    pytest.skip("needs something this machine lacks")
"""


def run(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(MODULE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.noskip", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skip_fails_the_run_under_ci(tmp_path):
    done = run(tmp_path, "true")
    assert done.returncode == 1, done.stdout
    assert "NOT RUN" in done.stdout and "test_cannot_run_here" in done.stdout
    assert "needs something this machine lacks" in done.stdout


def test_a_skip_is_only_reported_elsewhere(tmp_path):
    done = run(tmp_path, None)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout
