"""RFC 3161 tokens: the local TSA's verify with openssl; forgeries are rejected;
a TSA reached over HTTP is asked and its token checked before it is kept."""

import hashlib
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archivers.custody.rfc3161 import HttpStamper, TokenInvalid, verify_token
from infra.tsa import LocalTSA, TSAError
from tests.support.tsa import http_tsa as serve

DIGEST = hashlib.sha256(b"signed tree head 5").hexdigest()


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    authority = LocalTSA(tmp_path_factory.mktemp("tsa"))
    authority.ensure()
    return authority


def test_a_token_states_the_time_and_verifies(tsa):
    stated = verify_token(DIGEST, tsa.stamp(DIGEST), tsa.ca_pem())
    assert abs(stated - datetime.now(UTC)) < timedelta(minutes=1)


def test_openssl_alone_verifies_it_with_the_root_only(tsa, tmp_path):
    (tmp_path / "token.tsr").write_bytes(tsa.stamp(DIGEST))
    done = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-digest",
            DIGEST,
            "-in",
            "token.tsr",
            "-CAfile",
            str(tsa.root_pem),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "Verification: OK" in done.stdout


def test_a_token_for_other_data_or_from_another_authority_is_refused(tsa, tmp_path):
    token = tsa.stamp(DIGEST)
    with pytest.raises(TokenInvalid):
        verify_token(hashlib.sha256(b"something else").hexdigest(), token, tsa.ca_pem())
    other = LocalTSA(tmp_path / "other")
    with pytest.raises(TokenInvalid):
        verify_token(DIGEST, other.stamp(DIGEST), tsa.ca_pem())
    with pytest.raises(TokenInvalid):
        verify_token(DIGEST, token[:-10] + b"\0" * 10, tsa.ca_pem())  # damaged


def test_the_authority_is_made_once(tsa):
    before = tsa.tsa_pem.read_bytes()
    tsa.ensure()
    assert tsa.tsa_pem.read_bytes() == before
    with pytest.raises(TSAError):
        tsa.stamp("not a digest")


@pytest.fixture
def http_tsa(tsa):
    """The local TSA behind a real HTTP server on 127.0.0.1, as a public TSA is reached."""
    with serve(tsa) as url:
        yield url


def test_an_http_tsa_is_asked_and_its_token_checked(tsa, http_tsa, tmp_path):
    (tmp_path / "root.pem").write_bytes(tsa.ca_pem())
    stamper = HttpStamper("test-tsa", http_tsa, tmp_path / "root.pem")
    token = stamper.stamp(DIGEST)
    assert verify_token(DIGEST, token, tsa.ca_pem())
    (tmp_path / "wrong.pem").write_bytes(LocalTSA(tmp_path / "x").ca_pem())
    with pytest.raises(TokenInvalid):  # a TSA whose tokens do not chain to the configured CA
        HttpStamper("test-tsa", http_tsa, tmp_path / "wrong.pem").stamp(DIGEST)


def test_processes_making_the_authority_at_once_agree_on_one(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(8) as pool:
        roots = list(pool.map(_root_of, [str(tmp_path / "shared")] * 8))
    assert len(set(roots)) == 1
    assert verify_token(DIGEST, LocalTSA(tmp_path / "shared").stamp(DIGEST), roots[0])


def _root_of(directory: str) -> bytes:
    return LocalTSA(Path(directory)).ca_pem()


def test_stamps_asked_at_once_are_all_granted_with_their_own_serial(tsa, http_tsa, tmp_path):
    """An HTTP TSA answers requests in threads and a worker and a CLI share the local
    one: before the lock on the serial file, two at once gave a rejection ("Error
    during serial number generation") and a domain-signed export failed with exit 3."""
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "root.pem").write_bytes(tsa.ca_pem())
    stamper = HttpStamper("test-tsa", http_tsa, tmp_path / "root.pem")
    with ThreadPoolExecutor(12) as pool:
        tokens = list(pool.map(lambda _: stamper.stamp(DIGEST), range(36)))
    serials = {_serial(token, tmp_path) for token in tokens}
    assert len(serials) == len(tokens)


def _serial(token: bytes, tmp_path: Path) -> str:
    (tmp_path / "t.tsr").write_bytes(token)
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-in", "t.tsr", "-text"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return next(line for line in text.splitlines() if line.startswith("Serial number:"))
