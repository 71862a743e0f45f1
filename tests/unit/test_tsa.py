"""The local RFC 3161 TSA: tokens an auditor verifies with openssl, and forgeries they reject."""

import hashlib
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from infra.tsa import LocalTSA, TSAError, verify_token

DIGEST = hashlib.sha256(b"signed tree head 5").hexdigest()


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    authority = LocalTSA(tmp_path_factory.mktemp("tsa"))
    authority.ensure()
    return authority


def test_a_token_states_the_time_and_verifies(tsa):
    token = tsa.stamp(DIGEST)
    stated = tsa.verify(DIGEST, token)
    assert abs(stated - datetime.now(timezone.utc)) < timedelta(minutes=1)


def test_openssl_alone_verifies_it(tsa, tmp_path):
    (tmp_path / "token.tsr").write_bytes(tsa.stamp(DIGEST))
    done = subprocess.run(["openssl", "ts", "-verify", "-digest", DIGEST, "-in", "token.tsr",
                           "-CAfile", str(tsa.root_pem), "-untrusted", str(tsa.tsa_pem)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "Verification: OK" in done.stdout


def test_a_token_for_other_data_or_from_another_authority_is_refused(tsa, tmp_path):
    token = tsa.stamp(DIGEST)
    with pytest.raises(TSAError):
        tsa.verify(hashlib.sha256(b"something else").hexdigest(), token)
    other = LocalTSA(tmp_path / "other")
    with pytest.raises(TSAError):
        verify_token(DIGEST, other.stamp(DIGEST), tsa.root_pem, tsa.tsa_pem)
    with pytest.raises(TSAError):
        tsa.verify(DIGEST, token[:-10] + b"\0" * 10)  # damaged


def test_the_authority_is_made_once(tsa):
    before = tsa.tsa_pem.read_bytes()
    tsa.ensure()
    assert tsa.tsa_pem.read_bytes() == before
    with pytest.raises(TSAError):
        tsa.stamp("not a digest")
