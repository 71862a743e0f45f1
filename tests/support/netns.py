"""Network namespaces for the live SSRF tests: how to make one here, or why not.

``unshare --net --mount`` needs CAP_SYS_ADMIN: root has it. Without root, a
user namespace gives it inside (``unshare --user --map-root-user``), where
the kernel allows unprivileged user namespaces (most do). ``command()`` tries
the ways this machine may allow, with ``ip`` (iproute2, installed by
``infra/system-deps.sh``) setting up the namespace's loopback, and returns the
first that works.

If none works the test cannot run, and that must not pass unnoticed: under
CI (``CI=true``) it fails, saying what is missing; elsewhere it is skipped with
the same words (and ``tests.support.noskip`` fails a CI run with any skip).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

BASE = ["unshare", "--net", "--mount", "--propagation", "private"]
ROOTLESS = ["unshare", "--user", "--map-root-user", "--net", "--mount", "--propagation", "private"]


@functools.cache
def _working() -> tuple[list[str] | None, str]:
    missing = [tool for tool in ("unshare", "ip", "mount") if not shutil.which(tool)]
    if missing:
        return None, f"{', '.join(missing)} missing (`make test` installs iproute2 and util-linux)"
    tried = []
    for prefix in [BASE, ROOTLESS] if os.geteuid() == 0 else [ROOTLESS]:
        done = subprocess.run(
            [*prefix, "ip", "link", "set", "lo", "up"], capture_output=True, text=True, timeout=30
        )
        if done.returncode == 0:
            return prefix, ""
        tried.append(f"`{' '.join(prefix)}`: {done.stderr.strip() or done.returncode}")
    return None, "cannot make a network namespace here: " + "; ".join(tried)


def command() -> list[str]:
    """The ``unshare …`` prefix that makes a network + mount namespace here."""
    prefix, why = _working()
    if prefix is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the live SSRF tests cannot run: {why}")
        pytest.skip(f"the live SSRF tests cannot run: {why}")
    return prefix
