"""Text from pages and topics never reaches the operator's terminal as escape
sequences (security review F12): a package member named with OSC/CSI sequences
(set the window title, clear the screen) is printed by ``warcflow verify``
escaped, in text and in ``--json`` (which stays valid JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

from tests.support.stack import ROOT

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x9b2J\r.txt"


def _verify(tmp_path, *flags):
    package = tmp_path / "hostile.wacz"
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("datapackage.json", json.dumps({"resources": [], "profile": "data-package"}))
        z.writestr(HOSTILE, b"x")
    done = subprocess.run(
        [sys.executable, "-m", "warcflow", "verify", *flags, str(package)],
        cwd=ROOT,
        capture_output=True,
        env={"WARCFLOW_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    return done.stdout.decode("utf-8")


def test_control_characters_are_shown_escaped_in_text(tmp_path):
    out = _verify(tmp_path)
    assert "not listed in datapackage.json" in out
    assert not any(c in out for c in "\x1b\x07\x9b\r")
    assert "\\u001b]0;pwned\\u0007" in out


def test_json_output_stays_json_with_the_name_intact(tmp_path):
    doc = json.loads(_verify(tmp_path, "--json"))
    details = " ".join(c["detail"] for c in doc["checks"])
    assert HOSTILE in details  # the reader gets the exact name back
