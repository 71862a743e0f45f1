"""The local stack: the broker and the S3 server together, for ``warcflow up/down/status``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.kafka import KafkaBroker
from infra.processes import ServiceError
from infra.s3server import S3Server
from infra.settings import ServiceSettings

Progress = Callable[[str], None]


class LocalStack:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.kafka = KafkaBroker(settings)
        self.s3 = S3Server(settings)

    def install(self, progress: Progress) -> None:
        """Fetch the Kafka jars and build the S3 server unless already in the cache."""
        self.kafka.install(progress)
        self.s3.install(progress)

    def up(self, progress: Progress) -> None:
        """Start whatever is not running yet and wait until both answer. Idempotent."""
        self.install(progress)
        if not self.s3.start(progress):
            progress(f"S3 server already running on {self.s3.host}:{self.s3.port}")
        if not self.kafka.start(progress):
            progress(f"Kafka already running on {self.kafka.host}:{self.kafka.port}")
            if not self.kafka.answering(timeout=10.0):
                raise ServiceError(
                    f"Kafka on {self.kafka.host}:{self.kafka.port} runs but does not let the "
                    "admin in (started by a warcflow without SASL, or with other credentials): "
                    "`warcflow down`, then `warcflow up`"
                )

    def ensure_s3_users(self, users: dict[str, str]) -> None:
        """Make (or update) the S3 server's accounts, access key → secret; each can do
        only what the bucket policy grants it."""
        for access_key, secret_key in users.items():
            self.s3.ensure_user(access_key, secret_key)

    def down(self) -> list[str]:
        """Stop the processes this stack started (by pid file); return their names."""
        return [
            name for name, service in (("kafka", self.kafka), ("s3", self.s3)) if service.stop()
        ]

    def status(self) -> dict[str, Any]:
        return {
            "kafka": {
                "address": f"{self.kafka.host}:{self.kafka.port}",
                "pid": self.kafka.process.pid(),
                "answering": self.kafka.answering(),
                "version": self.settings.kafka_version,
                "data": str(self.kafka.data_dir),
                "log": str(self.kafka.process.log_path),
            },
            "s3": {
                "address": f"http://{self.s3.host}:{self.s3.port}",
                "pid": self.s3.process.pid(),
                "answering": self.s3.answering(),
                "version": f"versitygw {self.settings.versitygw_version}",
                "data": str(self.s3.dir / "data"),
                "log": str(self.s3.process.log_path),
            },
        }
