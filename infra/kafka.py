"""A real Apache Kafka broker (KRaft, single node) from the Maven Central jars.

- ``install``: Maven copies ``kafka_2.13:<version>`` and its runtime
  dependencies into ``<cache>/kafka-<version>/libs`` once per machine; a
  ``.complete`` marker makes later starts skip Maven entirely.
- ``start``: writes ``server.properties`` under ``<home>/kafka``, formats the
  log directory the first time only (``kafka.tools.StorageTool``), starts
  ``kafka.Kafka`` bound to the host:port of the bootstrap setting, and waits
  until the broker answers a metadata request. The controller listens on a
  free loopback port chosen at each start; a static single voter makes that
  safe across restarts. Data survives ``stop``/``start``.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from infra.processes import (
    ManagedProcess,
    ServiceError,
    free_port,
    host_port,
    port_open,
    wait_until,
)
from infra.settings import ServiceSettings

Progress = Callable[[str], None]


class KafkaBroker:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.dir = settings.home / "kafka"
        self.data_dir = self.dir / "data"
        self.host, self.port = host_port(settings.kafka_bootstrap)
        self.process = ManagedProcess(
            "kafka",
            settings.home / "run",
            settings.home / "logs" / "kafka.log",
            marker=str(self.dir / "server.properties"),
        )

    @property
    def libs(self) -> Path:
        return self.settings.cache / f"kafka-{self.settings.kafka_version}" / "libs"

    def installed(self) -> bool:
        return (self.libs / ".complete").exists()

    def install(self, progress: Progress) -> None:
        if self.installed():
            return
        for tool in ("java", "mvn"):
            if shutil.which(tool) is None:
                raise ServiceError(
                    f"`{tool}` is not on PATH; Kafka needs Java 17+ and Maven "
                    "(Debian: apt-get install openjdk-17-jre-headless maven)"
                )
        progress(
            f"fetching Apache Kafka {self.settings.kafka_version} jars from Maven Central "
            f"into {self.libs} (once per machine, about a minute)"
        )
        pom = resources.files("infra").joinpath("kafka/pom.xml")
        tmp = self.libs.with_name("libs.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        with resources.as_file(pom) as pom_path:
            result = subprocess.run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(pom_path),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={tmp}",
                    f"-Dkafka.version={self.settings.kafka_version}",
                ],
                capture_output=True,
                text=True,
            )
        if result.returncode != 0:
            raise ServiceError(
                "Maven could not fetch the Kafka jars:\n" + (result.stdout + result.stderr)[-3000:]
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        tmp.rename(self.libs)
        (self.libs / ".complete").write_text(self.settings.kafka_version + "\n")

    def _java(self, *args: str) -> list[str]:
        log4j = resources.files("infra").joinpath("kafka/log4j.properties")
        return [
            "java",
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms128m",
            f"-Dlog4j.configuration=file:{log4j}",
            "-cp",
            f"{self.libs}/*",
            *args,
        ]

    def _write_properties(self) -> Path:
        controller = free_port(self.host)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "num.partitions": "4",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": "300000",
        }
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "server.properties"
        path.write_text(
            "# written by warcflow infra/kafka.py at each start\n"
            + "".join(f"{k}={v}\n" for k, v in props.items())
        )
        return path

    def _format_once(self, properties: Path) -> None:
        if (self.data_dir / "meta.properties").exists():
            return
        cluster_id_file = self.dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(_random_cluster_id() + "\n")
        cluster_id = cluster_id_file.read_text().strip()
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(properties),
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(
                "formatting the Kafka log directory failed:\n"
                + (result.stdout + result.stderr)[-3000:]
            )

    def answering(self, timeout: float = 2.0) -> bool:
        """True if the broker answers a metadata request on the bootstrap address."""
        if not port_open(self.host, self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(
                bootstrap_servers=f"{self.host}:{self.port}", request_timeout_ms=int(timeout * 1000)
            )
            try:
                admin.list_topics()
                return True
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError):
            return False

    def start(self, progress: Progress, *, timeout: float = 120.0) -> bool:
        """Start unless running; False if it was already running."""
        if self.process.pid() is not None:
            return False
        if port_open(self.host, self.port):
            raise ServiceError(
                f"{self.host}:{self.port} is already in use by a process warcflow did not start; "
                "stop it or set WARCFLOW_KAFKA_BOOTSTRAP to another port"
            )
        self.install(progress)
        properties = self._write_properties()
        self._format_once(properties)
        progress(f"starting Kafka {self.settings.kafka_version} on {self.host}:{self.port}")
        self.process.start(self._java("kafka.Kafka", str(properties)))
        wait_until(
            lambda: self.process.pid() is None or self.answering(),
            timeout=timeout,
            interval=0.5,
            what=f"Kafka answering on {self.host}:{self.port}",
            on_fail=self.process.log_tail,
        )
        if self.process.pid() is None:
            raise ServiceError("Kafka exited during start-up. " + self.process.log_tail())
        return True

    def stop(self) -> bool:
        return self.process.stop(timeout=30.0)


def _random_cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints: 16 random bytes, base64url, unpadded;
    like Kafka's ``Uuid.randomUuid``, never one starting with "-" (a command line
    would read it as an option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
