"""A real Apache Kafka broker (KRaft, single node) from the Maven Central jars.

- ``install``: Maven copies ``kafka_2.13:<version>`` and its runtime
  dependencies into ``<cache>/kafka-<version>/libs`` once per machine; a
  ``.complete`` marker makes later starts skip Maven entirely.
- ``start``: writes ``server.properties`` under ``<home>/kafka`` (mode 0600:
  it holds passwords), formats the log directory the first time only
  (``kafka.tools.StorageTool``), starts ``kafka.Kafka`` bound to the
  host:port of the bootstrap setting, and waits until the broker answers the
  admin's metadata request. The controller listens on a free loopback port
  chosen at each start; a static single voter makes that safe across
  restarts. Data survives ``stop``/``start``.

Authentication and authorisation (docs/decisions/0011-trust-boundaries.md):

- the client listener speaks SASL/SCRAM-SHA-512 only; users and their salted
  credentials live in the cluster's metadata log. The admin (a super user)
  is written there when the log directory is formatted (``--add-scram``);
  every other user is made by the admin over the wire;
- the controller listener speaks SASL/PLAIN with a ``controller`` user whose
  password is in this file only and new at every start: over PLAINTEXT the
  controller would see the broker as ``User:ANONYMOUS``, which would then
  have to be a super user, and any local process could administer the
  cluster through the controller port;
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: what
  no ACL allows is denied (``streams.access`` is the table of ACLs);
- a log directory whose metadata log may not hold the admin's current
  credential (formatted before SASL, or the credential changed since: the
  fingerprint in ``kafka/admin.sha256`` says) gets one bootstrap start: PLAIN
  is also enabled on the client listener for a ``bootstrap`` super user
  with a one-time password, the admin's SCRAM credential is set through it,
  and the broker restarts without it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
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

SCRAM = "SCRAM-SHA-512"
_SAFE = re.compile(r"[A-Za-z0-9_-]+")
"""User names and passwords that survive the storage tool's ``[name=…,password=…]``
syntax and JAAS's double quotes."""


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

    def _write_properties(self, *, bootstrap_password: str = "") -> Path:
        """``server.properties`` for this start (0600). ``bootstrap_password``:
        also accept PLAIN logins of a ``bootstrap`` super user on the client
        listener (the one-off start that sets the admin's SCRAM credential)."""
        admin, admin_password = self._admin()
        controller = free_port(self.host)
        controller_password = secrets.token_hex(24)
        scram = _scram_login(admin, admin_password)
        plain_controller = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="controller" password="{controller_password}" '
            f'user_controller="{controller_password}";'
        )
        supers = [f"User:{admin}", "User:controller"]
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{controller}",
            "listeners": f"SASL_PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"SASL_PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,"
            "CONTROLLER:SASL_PLAINTEXT",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": plain_controller,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
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
        if bootstrap_password:
            props["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] = f"{SCRAM},PLAIN"
            props["listener.name.sasl_plaintext.plain.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'user_bootstrap="{bootstrap_password}";'
            )
            supers.append("User:bootstrap")
        props["super.users"] = ";".join(supers)
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "server.properties"
        text = (
            "# written by warcflow infra/kafka.py at each start; it holds passwords (mode 0600)\n"
            + "".join(f"{k}={v}\n" for k, v in props.items())
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
        return path

    def _admin(self) -> tuple[str, str]:
        user, password = self.settings.kafka_admin_user, self.settings.kafka_admin_password
        if not password:
            raise ServiceError(
                "no Kafka admin password: the local stack's credentials are made by "
                "`warcflow up` (WARCFLOW_CREDENTIALS)"
            )
        for text in (user, password):
            if not _SAFE.fullmatch(text):
                raise ServiceError(
                    "Kafka user names and passwords of the local broker may hold only "
                    "letters, digits, '-' and '_'"
                )
        return user, password

    @property
    def _fingerprint_file(self) -> Path:
        return self.dir / "admin.sha256"

    def _fingerprint(self) -> str:
        """What ``kafka/admin.sha256`` holds once the metadata log has the admin's
        current credential (a digest, never the password)."""
        user, password = self._admin()
        return hashlib.sha256(f"{user}\0{password}".encode()).hexdigest()

    def record_admin(self) -> None:
        """Note that the metadata log now holds the admin's credential of the
        settings (after it was changed over the wire, ``warcflow rotate admin``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fingerprint_file.write_text(self._fingerprint() + "\n")

    def _format_once(self, properties: Path) -> bool:
        """Format the log directory unless it is; True if formatted now."""
        if (self.data_dir / "meta.properties").exists():
            return False
        cluster_id_file = self.dir / "cluster.id"
        if not cluster_id_file.exists():
            cluster_id_file.write_text(_random_cluster_id() + "\n")
        cluster_id = cluster_id_file.read_text().strip()
        user, password = self._admin()
        result = subprocess.run(
            self._java(
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(properties),
                "--add-scram",
                f"{SCRAM}=[name={user},password={password}]",
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(
                "formatting the Kafka log directory failed:\n"
                + (result.stdout + result.stderr)[-3000:]
            )
        self.record_admin()
        return True

    def _admin_client(self, timeout: float, *, bootstrap_password: str = ""):
        from kafka import KafkaAdminClient

        user, password = ("bootstrap", bootstrap_password) if bootstrap_password else self._admin()
        return KafkaAdminClient(
            bootstrap_servers=f"{self.host}:{self.port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN" if bootstrap_password else SCRAM,
            sasl_plain_username=user,
            sasl_plain_password=password,
            request_timeout_ms=int(timeout * 1000),
            bootstrap_timeout_ms=int(timeout * 1000),  # refused credentials: say so soon
        )

    def answering(self, timeout: float = 2.0, *, bootstrap_password: str = "") -> bool:
        """True if the broker answers the admin's metadata request on the bootstrap
        address (a broker that refuses the admin's credentials does not)."""
        if not port_open(self.host, self.port):
            return False
        from kafka.errors import KafkaError

        try:
            admin = self._admin_client(timeout, bootstrap_password=bootstrap_password)
            try:
                admin.list_topics()
                return True
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError, ServiceError):
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
        formatted = self._format_once(self._write_properties())
        if not formatted and not self._admin_is_current():
            self._bootstrap_admin(progress, timeout)
        self._run(progress, timeout, self._write_properties())
        return True

    def _admin_is_current(self) -> bool:
        try:
            return self._fingerprint_file.read_text().strip() == self._fingerprint()
        except OSError:
            return False

    def _run(
        self, progress: Progress, timeout: float, properties: Path, *, bootstrap_password: str = ""
    ) -> None:
        progress(f"starting Kafka {self.settings.kafka_version} on {self.host}:{self.port}")
        self.process.start(self._java("kafka.Kafka", str(properties)))
        wait_until(
            lambda: (
                self.process.pid() is None or self.answering(bootstrap_password=bootstrap_password)
            ),
            timeout=timeout,
            interval=0.5,
            what=f"Kafka answering on {self.host}:{self.port}",
            on_fail=self.process.log_tail,
        )
        if self.process.pid() is None:
            raise ServiceError("Kafka exited during start-up. " + self.process.log_tail())

    def _bootstrap_admin(self, progress: Progress, timeout: float) -> None:
        """The one-off start that writes the admin's SCRAM credential into a
        metadata log formatted without it (see the module docstring)."""
        from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

        progress(
            "setting the Kafka admin's SCRAM credential (a log directory formatted before "
            "SASL, or a changed admin password): one extra start"
        )
        one_time = secrets.token_hex(24)
        self._run(
            progress,
            timeout,
            self._write_properties(bootstrap_password=one_time),
            bootstrap_password=one_time,
        )
        try:
            user, password = self._admin()
            admin = self._admin_client(10.0, bootstrap_password=one_time)
            try:
                result = admin.alter_user_scram_credentials(
                    [UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, password)]
                )
            finally:
                admin.close()
            if result.get(user):
                raise ServiceError(f"the broker refused the admin's credential: {result[user]}")
        finally:
            self.stop()
        self.record_admin()

    def stop(self) -> bool:
        return self.process.stop(timeout=30.0)


def _scram_login(user: str, password: str) -> str:
    """The JAAS line of a SCRAM client identity (the inter-broker one)."""
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";'
    )


def _random_cluster_id() -> str:
    """What ``StorageTool random-uuid`` prints: 16 random bytes, base64url, unpadded;
    like Kafka's ``Uuid.randomUuid``, never one starting with "-" (a command line
    would read it as an option)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text
