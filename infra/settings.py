"""Settings of the local services, built once by the entry point."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = "3.9.2"
VERSITYGW_VERSION = "v1.7.0"


@dataclass(frozen=True)
class ServiceSettings:
    """Where and how ``warcflow up`` runs the broker and the S3 server.

    ``home`` holds data, logs and pid files of this stack; ``cache`` holds
    what is downloaded or built once per machine (Kafka jars, the S3 server
    binary) and is shared by every stack. The admin credentials come from
    the entry point (the local stack's credentials file, made by ``warcflow
    up``); nothing here makes or stores them.
    """

    home: Path
    cache: Path
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_admin_user: str = "admin"
    kafka_admin_password: str = field(default="", repr=False)
    """The broker's super user (SCRAM), made when the log directory is formatted."""
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_access_key: str = ""
    s3_secret_key: str = field(default="", repr=False)
    """The S3 server's root credentials (versitygw's ROOT_ACCESS_KEY/SECRET_KEY)."""
    s3_region: str = "us-east-1"
    s3_server_bin: Path | None = None
    kafka_version: str = KAFKA_VERSION
    versitygw_version: str = VERSITYGW_VERSION
    kafka_heap: str = "512m"
