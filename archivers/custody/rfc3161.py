"""RFC 3161 time-stamp tokens: asking a TSA over HTTP, and checking what it says.

The ledger has each signed tree head stamped by every TSA of a configured
list (``HttpStamper`` for a public TSA; the local OpenSSL one in infra/ for
offline use). Checking is done with OpenSSL's ``ts`` command, exactly what an
auditor runs by hand, so the proof rests on a standard tool and not on ours:

    openssl ts -verify -digest HEX -in token.tsr -CAfile ca.pem

Invariant: ``verify_token(d, t, ca)`` returns the token's stated time (UTC)
only when OpenSSL says the token covers digest ``d`` and chains to ``ca``;
otherwise it raises ``TokenInvalid`` with OpenSSL's reason.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY = 64 * 1024


class TokenInvalid(Exception):
    """The token does not verify, does not cover the digest, or cannot be read."""


def _openssl(argv: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["openssl", *argv], cwd=cwd, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise TokenInvalid("openssl is not installed") from None
    if done.returncode != 0:
        raise TokenInvalid(
            f"openssl {' '.join(argv[:2])}: {done.stderr.decode('utf-8', 'replace').strip()[-400:]}"
        )
    return done.stdout


def check_digest(digest_hex: str) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", digest_hex):
        raise TokenInvalid(f"not a SHA-256 hex digest: {digest_hex!r}")


def query(digest_hex: str) -> bytes:
    """A DER time-stamp query for a SHA-256 digest, asking for the TSA's certificate."""
    check_digest(digest_hex)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.tsq"
        _openssl(
            ["ts", "-query", "-digest", digest_hex, "-sha256", "-cert", "-out", str(out)], Path(tmp)
        )
        return out.read_bytes()


def verify_token(digest_hex: str, token: bytes, ca_pem: bytes) -> datetime:
    """The time ``token`` states for ``digest_hex``, UTC, if it verifies against ``ca_pem``."""
    check_digest(digest_hex)
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "t.tsr").write_bytes(token)
        (tmpdir / "ca.pem").write_bytes(ca_pem)
        out = _openssl(
            ["ts", "-verify", "-digest", digest_hex, "-in", "t.tsr", "-CAfile", "ca.pem"], tmpdir
        )
        if b"Verification: OK" not in out:
            raise TokenInvalid(out.decode("utf-8", "replace").strip())
        return token_time(token)


def token_time(token: bytes) -> datetime:
    """The time a token states (not verified: use ``verify_token`` for that)."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.tsr").write_bytes(token)
        text = _openssl(["ts", "-reply", "-in", "t.tsr", "-text"], Path(tmp))
    match = re.search(rb"Time stamp: (.+)", text)
    if not match:
        raise TokenInvalid("the token states no time")
    stamp = re.sub(r"\s+", " ", match.group(1).decode().strip().replace(" GMT", ""))
    stamp = re.sub(r"\.\d+", "", stamp)
    return datetime.strptime(stamp, "%b %d %H:%M:%S %Y").replace(tzinfo=UTC)


def token_certificates(token: bytes) -> bytes:
    """The certificates a time-stamp response carries (the TSA's, asked for with
    ``-cert``), as PEM; empty if it carries none."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t.tsr").write_bytes(token)
        _openssl(["ts", "-reply", "-in", "t.tsr", "-token_out", "-out", "t.der"], Path(tmp))
        text = _openssl(
            ["pkcs7", "-inform", "DER", "-in", "t.der", "-print_certs"], Path(tmp)
        ).decode("ascii", "replace")
    blocks = re.findall(
        r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, flags=re.DOTALL
    )
    return "".join(block + "\n" for block in blocks).encode("ascii")


@dataclass(frozen=True)
class HttpStamper:
    """A TSA reached over HTTP(S) (RFC 3161 section 3.4). ``ca_file`` holds the
    certificate its tokens chain to; every token is verified before it is kept.

    The URL is operator configuration, not user input, so it is not subject to
    the capture fetcher's address policy.
    """

    name: str
    url: str
    ca_file: Path
    timeout: float = 30.0

    def ca_pem(self) -> bytes:
        return self.ca_file.read_bytes()

    def stamp(self, digest_hex: str) -> bytes:
        # the operator configured this URL (WARCFLOW_TSA); http(s) only, checked at start
        request = urllib.request.Request(  # noqa: S310
            self.url, data=query(digest_hex), method="POST", headers={"Content-Type": QUERY_TYPE}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
            kind = reply.headers.get("Content-Type", "")
            token = reply.read(MAX_REPLY + 1)
        if not kind.startswith(REPLY_TYPE) or len(token) > MAX_REPLY:
            raise TokenInvalid(f"{self.url} did not answer with a time-stamp reply ({kind!r})")
        verify_token(digest_hex, token, self.ca_pem())
        return token
