"""A real S3-compatible server with its data on disk: versitygw (POSIX backend).

Chosen after measuring the alternatives (docs/decisions/0001-s3-server.md): it
is built from source with ``go install`` at a pinned release (once per
machine, into the cache), enforces Object Lock, verifies SHA-256 checksums and
honours ``If-None-Match: *``. Objects are plain files under
``<home>/s3/data/<bucket>/``, metadata in extended attributes, old versions
under ``<home>/s3/versions``.

Identities: the root credentials come from the settings (the local stack's
credentials file); ``ensure_user`` makes or updates the other accounts
(versitygw role ``user``: no bucket of its own, only what a bucket policy
grants it) through the gateway's admin API, a SigV4-signed ``PATCH
/create-user`` or ``/update-user`` as versitygw's own ``admin`` command sends
(signed here so that secrets never appear on a command line). The accounts
live in ``<home>/s3/iam/users.json`` (versitygw writes it 0600, secrets in
plain text: it is the server's). The gateway's in-memory IAM cache is off
(``--iam-cache-disable``): with it, a request made with the old secret while
``warcflow rotate`` updated the account could put the old account back in the
cache for its 120 s, and the agent restarted on the new secret was refused
(SignatureDoesNotMatch; seen in CI). Reading the small accounts file per
request costs nothing a local stack notices.

Keep-alive is on (``--keep-alive``): versitygw turns it off by default (since
v0.11, "for better request rates under heavy load") and then answers every
request with ``Connection: close``, so each S3 request of a worker paid a TCP
connect (five a page) and the client's pool held nothing
(docs/decisions/0024-s3-connections.md; ``benchmarks/s3_connections.py``
counts them, tests/integration/test_s3_connections.py holds it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from infra.gotoolchain import go_binary
from infra.processes import ManagedProcess, ServiceError, host_port, port_open, wait_until
from infra.settings import ServiceSettings

Progress = Callable[[str], None]
MODULE = "github.com/versity/versitygw/cmd/versitygw"


class S3Server:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.dir = settings.home / "s3"
        self.host, self.port = host_port(settings.s3_endpoint)
        self.process = ManagedProcess(
            "s3",
            settings.home / "run",
            settings.home / "logs" / "s3.log",
            marker=str(self.dir / "data"),
        )

    @property
    def binary(self) -> Path:
        if self.settings.s3_server_bin:
            return self.settings.s3_server_bin
        return self.settings.cache / f"versitygw-{self.settings.versitygw_version}" / "versitygw"

    def installed(self) -> bool:
        return self.binary.is_file() and os.access(self.binary, os.X_OK)

    def install(self, progress: Progress) -> None:
        if self.installed():
            return
        if self.settings.s3_server_bin:
            raise ServiceError(
                f"WARCFLOW_S3_SERVER_BIN points at {self.binary}, which is not an executable file"
            )
        go = go_binary(self.settings.cache, progress)
        target = self.binary.parent
        progress(
            f"building versitygw {self.settings.versitygw_version} with `go install` into "
            f"{target} (once per machine, a few minutes)"
        )
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOBIN": str(target),
            "GOFLAGS": "-buildvcs=false",
            "GOTOOLCHAIN": "local",
        }
        result = subprocess.run(
            [go, "install", f"{MODULE}@{self.settings.versitygw_version}"],
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0 or not self.installed():
            raise ServiceError(
                "building versitygw failed:\n" + (result.stdout + result.stderr)[-3000:]
            )

    def answering(self) -> bool:
        if not port_open(self.host, self.port):
            return False
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def start(self, progress: Progress, *, timeout: float = 30.0) -> bool:
        if self.process.pid() is not None:
            return False
        if port_open(self.host, self.port):
            raise ServiceError(
                f"{self.host}:{self.port} is already in use by a process warcflow did not start; "
                "stop it or set WARCFLOW_S3_ENDPOINT to another port"
            )
        self.install(progress)
        for sub in ("data", "versions", "iam"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY": self.settings.s3_access_key,
            "ROOT_SECRET_KEY": self.settings.s3_secret_key,
        }
        progress(f"starting versitygw {self.settings.versitygw_version} on {self.host}:{self.port}")
        self.process.start(
            [
                str(self.binary),
                "--port",
                f"{self.host}:{self.port}",
                "--region",
                self.settings.s3_region,
                "--iam-dir",
                str(self.dir / "iam"),
                "--iam-cache-disable",
                "--health",
                "/healthz",
                "--keep-alive",
                "--quiet",
                "posix",
                "--versioning-dir",
                str(self.dir / "versions"),
                str(self.dir / "data"),
            ],
            env=env,
        )
        wait_until(
            lambda: self.process.pid() is None or self.answering(),
            timeout=timeout,
            what=f"the S3 server answering on {self.host}:{self.port}",
            on_fail=self.process.log_tail,
        )
        if self.process.pid() is None:
            raise ServiceError("the S3 server exited during start-up. " + self.process.log_tail())
        return True

    def stop(self) -> bool:
        return self.process.stop()

    def ensure_user(self, access_key: str, secret_key: str, role: str = "user") -> bool:
        """Make the account, or set its secret and role if it exists; True if made."""
        fields = f"<Access>{escape(access_key)}</Access><Secret>{escape(secret_key)}</Secret>"
        status, body = self._admin_call(
            "/create-user",
            "",
            f"<Account>{fields}<Role>{role}</Role>"
            "<UserID>0</UserID><GroupID>0</GroupID><ProjectID>0</ProjectID></Account>",
        )
        if status < 300:
            return True
        if status == 403 and (b"InvalidAccessKeyId" in body or b"SignatureDoesNotMatch" in body):
            raise ServiceError(
                "the S3 server does not know the root credentials of the credentials file "
                "(started by an older warcflow, or with other keys): `warcflow down`, then "
                "`warcflow up`"
            )
        if b"UserExists" not in body and b"already exists" not in body:
            raise ServiceError(f"the S3 server refused to make user {access_key}: {body[:300]!r}")
        status, body = self._admin_call(
            "/update-user",
            urllib.parse.urlencode({"access": access_key}),
            f"<MutableProps><Secret>{escape(secret_key)}</Secret><Role>{role}</Role></MutableProps>",
        )
        if status >= 300:
            raise ServiceError(f"the S3 server refused to update user {access_key}: {body[:300]!r}")
        return False

    def _admin_call(self, path: str, query: str, xml: str) -> tuple[int, bytes]:
        """One request of versitygw's admin API as root (AWS SigV4, service s3)."""
        body = xml.encode()
        payload = hashlib.sha256(body).hexdigest()
        now = datetime.now(UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        region = self.settings.s3_region
        host = f"{self.host}:{self.port}"
        headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [
                "PATCH",
                path,
                query,
                *(f"{name}:{headers[name]}" for name in sorted(headers)),
                "",
                signed,
                payload,
            ]
        )
        scope = f"{day}/{region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = f"AWS4{self.settings.s3_secret_key}".encode()
        for part in (day, region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            f"http://{host}{path}" + (f"?{query}" if query else ""),
            data=body,
            method="PATCH",
            headers={
                "X-Amz-Content-Sha256": payload,
                "X-Amz-Date": stamp,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={self.settings.s3_access_key}/"
                f"{scope}, SignedHeaders={signed}, Signature={signature}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own server
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
