"""The layout is held by tooling: the import contracts pass, and fail on a wrong import.

``make check`` runs import-linter over the contracts in pyproject.toml. These
tests run the same tool on a copy of the tree with one deliberately wrong
import added, and expect it to name the broken contract; and check the one
rule import-linter cannot see: which module runs which helper program.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("warcflow", "viewer", "streams", "archivers", "infra")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tree), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("layout")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_contracts_hold_on_the_tree():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("archivers/clock.py", "import faust", "archivers is Kafka-free"),
        ("archivers/capture/modes.py", "from archivers.media import ffmpeg", "The archivers wings"),
        ("archivers/extract/post.py", "from archivers.net import fetcher", "The archivers wings"),
        ("viewer/views.py", "import yt_dlp", "yt-dlp lives in archivers/media/ytdlp.py"),
        ("archivers/export/report.py", "import boto3", "boto3 lives in archivers/store/s3.py"),
        (
            "streams/watchers/telegram.py",
            "import lxml.html",
            "lxml lives in archivers/extract/html.py",
        ),
        (
            "archivers/extract/requisites.py",
            "import tinycss2",
            "tinycss2 lives in archivers/extract/css.py",
        ),
        (
            "streams/agents/capture.py",
            "from streams.clients import producer",
            "Agents get their Kafka clients handed in",
        ),
        (
            "warcflow/commands/export.py",
            "from warcflow.commands import custody",
            "CLI commands never import one another",
        ),
        ("archivers/urls.py", "import streams.topics", "The parts, top to bottom"),
    ],
)
def test_a_wrong_import_breaks_its_contract(copy, module, line, contract):
    path = copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # deliberately wrong\n")
    try:
        result = lint_imports(copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0
    broken = [text for text in result.stdout.splitlines() if " BROKEN" in text]
    assert any(text.startswith(contract) for text in broken), result.stdout


HELPERS = {
    "openssl": {"archivers/custody/rfc3161.py", "infra/tsa.py"},
    "ffmpeg": {"archivers/media/ffmpeg.py"},
    "ffprobe": {"archivers/media/ffmpeg.py"},
    "chromium": set(),  # Playwright starts it, in archivers/capture/browser.py
}


def test_each_helper_program_is_run_from_its_one_module():
    runs: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.List)
                    and node.elts
                    and isinstance(node.elts[0], ast.Constant)
                    and node.elts[0].value in HELPERS
                ):
                    runs.setdefault(node.elts[0].value, set()).add(str(path.relative_to(ROOT)))
    for program, allowed in HELPERS.items():
        assert runs.get(program, set()) <= allowed, (program, runs.get(program))
