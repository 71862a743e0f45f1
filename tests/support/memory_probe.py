"""Readers of hostile or huge files, in a child whose peak memory is measured
(security review F10).

    python -m tests.support.memory_probe make WORKDIR           (writes both files)
    python -m tests.support.memory_probe verify|audit WORKDIR   (reads one, measured)

``verify``: ``warcflow verify``'s reader on a 620 KB WACZ whose
datapackage.json inflates to 608 MiB (a ZIP bomb). ``audit``:
``check_records`` on a WARC holding one 400 MiB record. Prints one JSON object:
the outcome, the file's size and the child's own peak RSS (VmHWM) in MiB.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

RECORD = 400 * 1024 * 1024


def zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("datapackage.json", "w", force_zip64=True) as f:
            f.write(b'{"resources": [], "pad": "')
            chunk = b"A" * (16 * 1024 * 1024)
            for _ in range(38):
                f.write(chunk)
            f.write(b'"}')


def big_warc(path: Path) -> None:
    from warcio.warcwriter import WARCWriter

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = RECORD

        def readable(self) -> bool:
            return True

        def readinto(self, target) -> int:
            n = min(len(target), self.left)
            target[:n] = b"\0" * n
            self.left -= n
            return n

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        record = writer.create_warc_record(
            "urn:sha256:zeros",
            "resource",
            payload=io.BufferedReader(Zeros(), 1024 * 1024),
            length=RECORD,
            warc_content_type="video/mp4",
        )
        writer.write_record(record)


def peak_rss_mib() -> int:
    """This process's own peak RSS (VmHWM, not inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class Files:
    def open(self, key, byte_range=None):
        return open(key, "rb")


def main() -> None:
    mode, workdir = sys.argv[1], Path(sys.argv[2])
    if mode == "make":
        zip_bomb(workdir / "bomb.wacz")
        big_warc(workdir / "big.warc.gz")
        return
    if mode == "verify":
        from archivers.export.verify import verify_package

        path = workdir / "bomb.wacz"
        checks = verify_package(path).checks
        outcome = {"ok": all(c.ok for c in checks), "checks": [c.name for c in checks if not c.ok]}
    else:
        from archivers.custody.audit import Report, check_records

        path = workdir / "big.warc.gz"
        report = Report("x", "u")
        check_records(report, Files(), str(path))
        outcome = {"ok": report.checks[-1].ok, "detail": report.checks[-1].detail}
    print(
        json.dumps({**outcome, "file_bytes": path.stat().st_size, "peak_rss_mib": peak_rss_mib()})
    )


if __name__ == "__main__":
    main()
