"""Other people's CDXJ indexers, run on files warcflow wrote, for line-by-line comparison.

- ``cdxj_indexer``: webrecorder's ``cdxj-indexer`` (PyPI ``cdxj-indexer``, what py-wacz
  and Browsertrix index WARCs with), ``--sort``, ``--dir-root`` so ``filename`` is the
  path below that root — the S3 key, or the name in a WACZ's ``archive/``;
- ``pywb_index``: pywb's own ``cdx-indexer -j -s``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def cdxj_indexer(paths: list[Path], root: Path) -> list[str]:
    """``cdxj-indexer --sort --dir-root ROOT PATHS…``: its lines, in its order."""
    out = subprocess.run(
        [sys.executable, "-m", "cdxj_indexer.main", "--sort", "--dir-root", str(root)]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [line for line in out.splitlines() if line]


def cdxj_indexer_version() -> str:
    from importlib.metadata import version

    return version("cdxj-indexer")


def pywb_index(path: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pywb.indexer.cdxindexer", "-j", "-s", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]
