"""``warcflow verify`` and the audit read hostile or huge files in bounded memory
(security review F10), and still catch what they are for.

Each reader runs in a child process whose own peak RSS (VmHWM) is measured
(tests/support/memory_probe.py), at the sizes of the review: before, a 620 KB
WACZ whose datapackage.json inflates to 608 MiB took ``verify`` to 1870 MiB
and a 400 MiB WARC record took ``check_records`` to 861 MiB.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archivers.custody.audit import Report, check_records
from tests.support.stack import ROOT


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("memory")
    subprocess.run(
        [sys.executable, "-m", "tests.support.memory_probe", "make", str(workdir)],
        cwd=ROOT,
        check=True,
        timeout=240,
    )
    return workdir


def _measured(mode, workdir) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.memory_probe", mode, str(workdir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_verify_refuses_a_zip_bomb_member_by_name_in_bounded_memory(hostile_files):
    report = _measured("verify", hostile_files)
    assert report["file_bytes"] < 1024 * 1024
    assert report["ok"] is False and report["checks"] == ["member datapackage.json"]
    assert report["peak_rss_mib"] < 200


def test_check_records_reads_a_400_mib_record_in_bounded_memory(hostile_files):
    report = _measured("audit", hostile_files)
    assert report["ok"] is True and report["detail"] == "1 record digests verify"
    assert report["peak_rss_mib"] < 250


class Files:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self, key, byte_range=None):
        return io.BytesIO(self.data)


def _warc(payload: bytes, *, forged: bool = False) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    headers = StatusAndHeaders(
        "200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], protocol="HTTP/1.1"
    )
    record = writer.create_warc_record(
        "https://example.test/", "response", payload=io.BytesIO(payload), http_headers=headers
    )
    writer.write_record(record)
    data = out.getvalue()
    if forged:  # one payload byte changed after the digests were written
        data = data.replace(payload[-8:], bytes(b ^ 1 for b in payload[-8:]))
    return data


def test_check_records_still_catches_a_wrong_digest_without_decoding_the_payload():
    import gzip

    body = gzip.compress(b"<p>" + b" " * 1_000_000)  # decoding it is not needed to check it
    assert check_records(Report("x", "u"), Files(_warc(body)), "w") and True
    report = Report("x", "u")
    check_records(report, Files(_warc(body, forged=True)), "w")
    assert report.checks[-1].ok is False and "digest" in report.checks[-1].detail.lower()
