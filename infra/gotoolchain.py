"""A Go toolchain able to build the S3 server: the machine's, or a pinned download.

versitygw needs Go >= 1.25. If ``go`` on PATH is older or missing, the pinned
release below is fetched from the Go module proxy (where ``GOTOOLCHAIN``
downloads come from), checked against its SHA-256 and unpacked into the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from infra.processes import ServiceError

MIN_GO = (1, 25)
PINNED = "1.25.14"
PINNED_SHA256 = "1bb543a7745d4c6e045a1bfdb4c4d5a0b05b71ee8b8ff72c0a351598b26991a4"
PROXY = "https://proxy.golang.org"


def _version(go: str) -> tuple[int, ...]:
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "GOTOOLCHAIN": "local"},
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    text = out.strip().removeprefix("go")
    return tuple(int(x) for x in text.split(".")[:2] if x.isdigit())


def go_binary(cache: Path, progress: Callable[[str], None]) -> str:
    """Path of a ``go`` >= 1.25, downloading the pinned toolchain if needed."""
    system = shutil.which("go")
    if system and _version(system) >= MIN_GO:
        return system
    root = cache / f"go-{PINNED}"
    go = root / "bin" / "go"
    if go.is_file() and _version(str(go)) >= MIN_GO:
        return str(go)
    url = f"{PROXY}/golang.org/toolchain/@v/v0.0.1-go{PINNED}.linux-amd64.zip"
    progress(f"no Go >= 1.25 on PATH; fetching Go {PINNED} from {PROXY}")
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"go-{PINNED}.zip.partial"
    digest = hashlib.sha256()
    try:
        # the Go download site's https URL, fixed in this module; the archive's digest is checked
        with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as out:  # noqa: S310
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise ServiceError(f"could not download Go from {url}: {exc}") from None
    if digest.hexdigest() != PINNED_SHA256:
        archive.unlink(missing_ok=True)
        raise ServiceError(f"the Go toolchain from {url} does not match its pinned SHA-256")
    prefix = f"golang.org/toolchain@v0.0.1-go{PINNED}.linux-amd64/"
    shutil.rmtree(root, ignore_errors=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if not info.filename.startswith(prefix) or info.is_dir():
                continue
            target = root / info.filename[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            if "/bin/" in f"/{info.filename[len(prefix) :]}" or "/pkg/tool/" in info.filename:
                target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    archive.unlink(missing_ok=True)
    if _version(str(go)) < MIN_GO:
        raise ServiceError(f"the downloaded Go toolchain in {root} does not run")
    return str(go)
