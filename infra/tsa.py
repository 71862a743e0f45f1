"""A local RFC 3161 time-stamping authority on OpenSSL's ``ts`` tool, for offline use.

Production asks two or more public TSAs to timestamp each signed tree head; a
local stack, and the tests, run this one so everything works without a
network. It makes, once, under its directory: a root certificate and a TSA
certificate (EC P-256, ``extendedKeyUsage=critical,timeStamping``) and the
``openssl ts`` configuration. A token it issues carries the TSA certificate
and verifies with the standard command, which is what an auditor runs
(``archivers.rfc3161.verify_token`` runs the same):

    openssl ts -verify -digest HEX -in token.tsr -CAfile root.pem

``name`` and ``ca_pem()`` make it a ledger ``Stamper``.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import tempfile
from pathlib import Path

CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.59999.1.1
other_policies = 1.3.6.1.4.1.59999.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
clock_precision_digits = 0
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


class TSAError(Exception):
    """OpenSSL refused: a bad digest, a token that does not verify, or no openssl."""


def _run(argv: list[str], cwd: Path, data: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(argv, cwd=cwd, input=data, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise TSAError("openssl is not installed") from None
    if done.returncode != 0:
        raise TSAError(
            f"{' '.join(argv[:3])}: {done.stderr.decode('utf-8', 'replace').strip()[-500:]}"
        )
    return done.stdout


class LocalTSA:
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    @property
    def root_pem(self) -> Path:
        return self.dir / "root.pem"

    @property
    def tsa_pem(self) -> Path:
        return self.dir / "tsa.pem"

    def ensure(self) -> None:
        """Make the keys, certificates and configuration once. Idempotent, and safe
        when several processes (a worker, a CLI) get there at once: each builds in a
        folder of its own, and the first to rename it into place wins."""
        if (self.dir / "tsa.cnf").exists():
            return
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.dir.parent, prefix=".tsa-") as tmp:
            built = Path(tmp) / "tsa"
            self._make(built)
            try:
                built.rename(self.dir)
            except OSError:
                if not (self.dir / "tsa.cnf").exists():
                    raise

    def _make(self, d: Path) -> None:
        d.mkdir()
        _run(
            ["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "root.key"],
            d,
        )
        _run(
            [
                "openssl",
                "req",
                "-new",
                "-x509",
                "-key",
                "root.key",
                "-days",
                "3650",
                "-subj",
                "/CN=warcflow local TSA root",
                "-out",
                "root.pem",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            d,
        )
        _run(
            ["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "tsa.key"], d
        )
        _run(
            [
                "openssl",
                "req",
                "-new",
                "-key",
                "tsa.key",
                "-subj",
                "/CN=warcflow local TSA",
                "-out",
                "tsa.csr",
            ],
            d,
        )
        (d / "tsa.ext").write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=critical,timeStamping\n"
        )
        _run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "root.pem",
                "-CAkey",
                "root.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                "tsa.ext",
                "-out",
                "tsa.pem",
            ],
            d,
        )
        (d / "serial").write_text("01\n")
        (d / "root.key").chmod(0o600)
        (d / "tsa.key").chmod(0o600)
        (d / "tsa.cnf").write_text(CONFIG.format(dir=self.dir))

    def stamp(self, digest_hex: str) -> bytes:
        """A DER time-stamp response (RFC 3161) for a SHA-256 digest."""
        self.ensure()
        _check_digest(digest_hex)
        with tempfile.TemporaryDirectory() as tmp:
            query = Path(tmp) / "q.tsq"
            _run(
                [
                    "openssl",
                    "ts",
                    "-query",
                    "-digest",
                    digest_hex,
                    "-sha256",
                    "-cert",
                    "-out",
                    str(query),
                ],
                self.dir,
            )
            return self.reply(query.read_bytes())

    def reply(self, query: bytes) -> bytes:
        """The DER response to a DER time-stamp query (what an HTTP TSA answers).

        Invariant: one ``openssl ts -reply`` at a time per authority, across threads
        and processes (an exclusive ``flock`` on ``serial.lock``). OpenSSL reads the
        serial file, writes ``serial.new`` and renames it; two replies at once see a
        missing or half-written file and the second is a *rejection* ("Error during
        serial number generation"), or both get the same serial number."""
        self.ensure()
        with (
            tempfile.TemporaryDirectory() as tmp,
            open(self.dir / "serial.lock", "a") as lock,
        ):
            fcntl.flock(lock, fcntl.LOCK_EX)
            (Path(tmp) / "q.tsq").write_bytes(query)
            reply = Path(tmp) / "r.tsr"
            _run(
                [
                    "openssl",
                    "ts",
                    "-reply",
                    "-config",
                    "tsa.cnf",
                    "-queryfile",
                    str(Path(tmp) / "q.tsq"),
                    "-out",
                    str(reply),
                ],
                self.dir,
            )
            return reply.read_bytes()

    name = "local"

    def ca_pem(self) -> bytes:
        """The root certificate its tokens verify against."""
        self.ensure()
        return self.root_pem.read_bytes()


def _check_digest(digest_hex: str) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", digest_hex):
        raise TSAError(f"not a SHA-256 hex digest: {digest_hex!r}")
