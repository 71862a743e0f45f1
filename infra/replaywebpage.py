"""ReplayWeb.page, the WACZ player people use, from the npm registry at a pinned version.

Exports are checked in the reference player itself (tests/e2e/test_replaywebpage.py):
``install`` fetches the package tarball with ``npm pack replaywebpage@VERSION``
(npm checks it against the registry's integrity; we check it against the pinned
one below too) and keeps the three files the player needs, once per machine,
in ``<cache>/replaywebpage-<version>/``:

    index.html   the app page (<replay-app-main>)
    ui.js        the app, one self-contained bundle
    sw.js        the service worker: wabac.js, which reads the WACZ by HTTP range
                 requests, verifies its signature and replays it

``npm install`` is not used: the package's dependency tree asks for npm versions
the registry does not serve (warcio@^2.4.12), and nothing of it is needed at run
time — ui.js and sw.js are bundles. ``serve_files(dir)`` copies the app beside
the WACZ files to be served; the server must answer ``Range`` requests (a plain
``python -m http.server`` does not: tests/support/rangeserver.py does).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from infra.processes import ServiceError

Progress = Callable[[str], None]
VERSION = "2.5.3"
INTEGRITY = "sha512-" + (
    "nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ=="
)
"""The registry's ``dist.integrity`` of replaywebpage-2.5.3.tgz (``npm view replaywebpage@2.5.3
dist.integrity``)."""
FILES = ("index.html", "ui.js", "sw.js", "LICENSE")


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


class ReplayWebPage:
    def __init__(self, cache: Path, version: str = VERSION, integrity: str = INTEGRITY) -> None:
        self.version = version
        self.integrity = integrity
        self.dir = cache / f"replaywebpage-{version}"

    def installed(self) -> bool:
        return (self.dir / ".complete").exists()

    def install(self, progress: Progress) -> None:
        if self.installed():
            return
        if shutil.which("npm") is None:
            raise ServiceError(
                "`npm` is not on PATH; ReplayWeb.page comes from the npm registry "
                "(Debian: apt-get install npm; infra/system-deps.sh does it)"
            )
        progress(f"fetching ReplayWeb.page {self.version} from the npm registry into {self.dir}")
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=self.dir.name + ".partial-", dir=self.dir.parent))
        try:
            done = subprocess.run(
                [
                    "npm",
                    "pack",
                    "--silent",
                    "--json",
                    f"--pack-destination={tmp}",
                    f"replaywebpage@{self.version}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
                cwd=tmp,
            )
            if done.returncode != 0:
                raise ServiceError(
                    f"npm pack replaywebpage@{self.version} failed:\n"
                    + (done.stdout + done.stderr)[-2000:]
                )
            tarball = tmp / json.loads(done.stdout)[0]["filename"]
            found = _integrity(tarball)
            if found != self.integrity:
                raise ServiceError(
                    f"{tarball.name} has integrity {found}, not the pinned {self.integrity}"
                )
            with tarfile.open(tarball) as archive:
                for name in FILES:
                    member = archive.getmember(f"package/{name}")
                    source = archive.extractfile(member)
                    if source is None:
                        raise ServiceError(f"{tarball.name} has no file package/{name}")
                    with source, open(tmp / name, "wb") as out:
                        shutil.copyfileobj(source, out)
            tarball.unlink()
            (tmp / ".complete").write_text(f"{self.version} {self.integrity}\n")
            try:
                tmp.rename(self.dir)
            except OSError:
                if not self.installed():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def wabac_version(self) -> str:
        """The wabac.js version bundled as sw.js (from its banner comment)."""
        head = (self.dir / "sw.js").read_bytes()[:300].decode("utf-8", "replace")
        match = re.search(r"wabac\.js ([0-9][0-9.]*)", head)
        return match.group(1) if match else "?"

    def serve_files(self, directory: Path) -> None:
        """Copy the player into ``directory`` (served at the site's root)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("index.html", "ui.js", "sw.js"):
            shutil.copyfile(self.dir / name, directory / name)
