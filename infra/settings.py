"""Settings of the local services, built once by the entry point."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KAFKA_VERSION = "3.9.2"
VERSITYGW_VERSION = "v1.7.0"


@dataclass(frozen=True)
class ServiceSettings:
    """Where and how ``warcflow up`` runs the broker and the S3 server.

    ``home`` holds data, logs and pid files of this stack; ``cache`` holds
    what is downloaded or built once per machine (Kafka jars, the S3 server
    binary) and is shared by every stack.
    """

    home: Path
    cache: Path
    kafka_bootstrap: str = "127.0.0.1:9092"
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = "warcflow"
    s3_secret_key: str = "warcflow-local-secret"  # noqa: S105 - the local stack's default
    s3_region: str = "us-east-1"
    s3_server_bin: Path | None = None
    kafka_version: str = KAFKA_VERSION
    versitygw_version: str = VERSITYGW_VERSION
    kafka_heap: str = "512m"
