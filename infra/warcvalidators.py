"""Two independent WARC validators, built from other archives' libraries (not warcio).

warcflow writes WARCs with its own writer and reads them with warcio; a check by
warcio of warcio-read files proves little. These two read every record with
code that shares nothing with ours, recompute ``WARC-Block-Digest`` and
``WARC-Payload-Digest`` and apply the WARC 1.1 field rules:

- **JWAT** (``org.jwat:jwat-warc``, Maven Central; the library of NetarchiveSuite
  and jwat-tools): ``infra/warcvalidate/JwatValidate.java``, compiled with
  ``javac`` against the jars Maven copies;
- **gowarc** (``github.com/nlnwa/gowarc/v3``, Go module proxy; the library of
  the National Library of Norway's warchaeology ``warc validate``):
  ``infra/warcvalidate/gowarc/main.go``, built with ``go build`` (go.sum pins
  every module's hash).

The command-line tools themselves are not to be had from the registries
(jwat-tools is not on Maven Central; the Go proxy refuses warchaeology), so each
program here is the few lines that open a file with the library and print what
it found. Both are built once per machine into the cache, in a folder named
by the library version and a hash of the program's source (a change rebuilds),
like the Kafka jars (infra/kafka.py).

``validate(paths)`` runs one over many files in one process and returns a
``FileReport`` per file: records read, digests recomputed and compared, and
findings (a digest mismatch, a field a record type may not carry, a bad
Content-Length, an unreadable gzip member). ``ok`` only with no finding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from infra.gotoolchain import go_binary
from infra.processes import ServiceError

Progress = Callable[[str], None]
JWAT_VERSION = "1.2.1"
GOWARC_VERSION = "v3.1.0"


@dataclass(frozen=True)
class FileReport:
    """What one validator said of one WARC file."""

    file: str
    tool: str
    records: int
    block_digests: int  # block digests recomputed and compared
    payload_digests: int  # payload digests recomputed and compared
    findings: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    fatal: str | None = None

    @property
    def ok(self) -> bool:
        return self.fatal is None and not self.findings and self.records > 0

    def summary(self) -> str:
        verdict = "valid" if self.ok else "INVALID"
        lines = [
            f"{self.file}: {self.tool}: {self.records} records, {self.block_digests} block and "
            f"{self.payload_digests} payload digests checked: {verdict}"
        ]
        lines += [f"  {f}" for f in self.findings]
        if self.fatal:
            lines.append(f"  unreadable: {self.fatal}")
        return "\n".join(lines)


def _source_hash(*names: str) -> str:
    digest = hashlib.sha256()
    for name in names:
        digest.update(resources.files("infra").joinpath("warcvalidate", name).read_bytes())
    return digest.hexdigest()[:12]


def _place(build: Callable[[Path], None], target: Path) -> None:
    """Build into a folder of our own beside ``target``, then rename it into place:
    two processes installing at once both succeed, the first rename wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".partial-", dir=target.parent))
    try:
        build(tmp)
        (tmp / ".complete").write_text("ok\n")
        try:
            tmp.rename(target)
        except OSError:
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(argv: list[str], what: str, **kwargs) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        raise ServiceError(f"{what} failed:\n" + (done.stdout + done.stderr)[-3000:])


def _reports(done: subprocess.CompletedProcess, paths: Sequence[Path], tool: str) -> list:
    reports = []
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            reports.append(
                FileReport(
                    d["file"],
                    d["tool"],
                    d["records"],
                    d["block_digests"],
                    d["payload_digests"],
                    tuple(d["findings"] or ()),
                    tuple(d["warnings"] or ()),
                    d["fatal"],
                )
            )
    if len(reports) != len(paths) or done.returncode not in (0, 1, 2):
        raise ServiceError(
            f"{tool} answered {len(reports)} reports for {len(paths)} files "
            f"(exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
        )
    return reports


class JwatValidator:
    name = "jwat"

    def __init__(self, cache: Path) -> None:
        source = _source_hash("JwatValidate.java", "pom.xml")
        self.dir = cache / f"warcvalidate-jwat-{JWAT_VERSION}-{source}"

    def installed(self) -> bool:
        return (self.dir / ".complete").exists()

    def install(self, progress: Progress) -> None:
        if self.installed():
            return
        for tool in ("java", "javac", "mvn"):
            if shutil.which(tool) is None:
                raise ServiceError(
                    f"`{tool}` is not on PATH; the JWAT WARC validator needs a JDK 17+ and Maven "
                    "(Debian: apt-get install openjdk-17-jdk-headless maven)"
                )
        progress(f"fetching JWAT {JWAT_VERSION} from Maven Central, compiling the validator")
        base = resources.files("infra").joinpath("warcvalidate")

        def build(tmp: Path) -> None:
            with resources.as_file(base) as src:
                _run(
                    [
                        "mvn",
                        "-q",
                        "-B",
                        "-f",
                        str(src / "pom.xml"),
                        "dependency:copy-dependencies",
                        "-DincludeScope=runtime",
                        f"-DoutputDirectory={tmp / 'lib'}",
                        f"-Djwat.version={JWAT_VERSION}",
                    ],
                    "Maven (JWAT jars)",
                )
                _run(
                    [
                        "javac",
                        "-d",
                        str(tmp / "classes"),
                        "-cp",
                        f"{tmp / 'lib'}/*",
                        str(src / "JwatValidate.java"),
                    ],
                    "javac JwatValidate.java",
                )

        _place(build, self.dir)

    def validate(self, paths: Sequence[Path]) -> list[FileReport]:
        done = subprocess.run(
            [
                "java",
                "-Xmx256m",
                f"-Djwat.version={JWAT_VERSION}",
                "-cp",
                f"{self.dir / 'classes'}:{self.dir / 'lib'}/*",
                "JwatValidate",
                *map(str, paths),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        return _reports(done, paths, "JWAT")


class GowarcValidator:
    name = "gowarc"

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        source = _source_hash("gowarc/main.go", "gowarc/go.mod", "gowarc/go.sum")
        self.dir = cache / f"warcvalidate-gowarc-{GOWARC_VERSION}-{source}"

    @property
    def binary(self) -> Path:
        return self.dir / "warcvalidate"

    def installed(self) -> bool:
        return (self.dir / ".complete").exists() and os.access(self.binary, os.X_OK)

    def install(self, progress: Progress) -> None:
        if self.installed():
            return
        go = go_binary(self.cache, progress)
        progress(f"building the gowarc {GOWARC_VERSION} validator with `go build`")
        base = resources.files("infra").joinpath("warcvalidate", "gowarc")
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOFLAGS": "-modcacherw -buildvcs=false -mod=readonly",
            "GOTOOLCHAIN": "local",
        }

        def build(tmp: Path) -> None:
            with resources.as_file(base) as src:
                work = tmp / "src"
                shutil.copytree(src, work)
                _run(
                    [go, "build", "-trimpath", "-o", str(tmp / "warcvalidate"), "."],
                    "go build (gowarc validator)",
                    cwd=work,
                    env=env,
                )
                shutil.rmtree(work)

        _place(build, self.dir)

    def validate(self, paths: Sequence[Path]) -> list[FileReport]:
        done = subprocess.run(
            [str(self.binary), *map(str, paths)], capture_output=True, text=True, timeout=600
        )
        return _reports(done, paths, "gowarc")


@dataclass
class Validators:
    """Both validators, installed on first use."""

    cache: Path
    progress: Progress = field(default=lambda message: None)

    def __post_init__(self) -> None:
        self.tools: list[JwatValidator | GowarcValidator] = [
            JwatValidator(self.cache),
            GowarcValidator(self.cache),
        ]

    def install(self) -> None:
        for tool in self.tools:
            tool.install(self.progress)

    def validate(self, paths: Sequence[Path]) -> list[FileReport]:
        """Every file by every validator (reports in that order)."""
        self.install()
        out: list[FileReport] = []
        for tool in self.tools:
            out += tool.validate(paths) if paths else []
        return out
