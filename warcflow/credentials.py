"""Each role's credentials: its Kafka user and password, its S3 access key and secret.

Roles (docs/operations.md, "Roles"; the Kafka ACLs are ``streams.access``,
the S3 policies ``archivers.store.policy``):

    admin      Kafka super user; the S3 server's root     warcflow up, provision, rotate
    submitter  Kafka: write ingest; no S3                 warcflow submit, kcat
    viewer     Kafka: read captures, write custody and    warcflow viewer (and its replay)
               ingest; S3: read-only
    worker     Kafka: the agents' topics and group;       warcflow worker
               S3: read, write its prefixes
    operator   Kafka: read and write the prefix's         the other commands (captures, audit,
               topics, no group; S3: read-only            fixity, export, dlq, watch, …)

MAC keys (``streams.messages.seal``): the worker, the operator and the
viewer each seal the internal messages they make with a key of their own;
the file keeps each role's current key and the one before its last rotation
(so messages sealed just before a rotation are still accepted). A process
gets its own role's keys, and the worker, which opens every internal
message, every role's; ``WARCFLOW_MAC_KEYS`` set explicitly wins.

Which role a command runs as is the command's (``ROLE`` in its parser
defaults, applied by the CLI before the command runs: ``for_role``).

Where they come from, first found:

1. ``WARCFLOW_KAFKA_USER``/``WARCFLOW_KAFKA_PASSWORD`` and
   ``WARCFLOW_S3_ACCESS_KEY``/``WARCFLOW_S3_SECRET_KEY`` set in the
   environment or the settings file: the process is that identity, whatever
   the command (production: each container gets its own role's);
2. the credentials file (``WARCFLOW_CREDENTIALS``, default
   ``HOME/credentials.json``): every role's, made by ``warcflow up`` on its
   first start with random secrets (printed once), mode 0600. The local
   stack's own processes (the broker's admin, the S3 server's root) always
   take theirs from it.

Neither: no SASL (a broker without authentication) and boto3's own chain.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from streams.messages.seal import SEALING_ROLES, MacKey, new_key, parse_key
from warcflow.settings import Settings, SettingsError

KAFKA_ROLES = ("admin", "submitter", "viewer", "worker", "operator")
S3_ROLES = ("admin", "viewer", "worker", "operator")
"""The S3 ``admin`` is the server's root (versitygw ROOT_ACCESS_KEY, MinIO's root user)."""
ROLES = KAFKA_ROLES
MAC_ROLES = SEALING_ROLES
"""The roles with a MAC key: those that make internal messages."""
KEPT_MAC_KEYS = 2
"""A role's current MAC key and the one before its last rotation."""


@dataclass(frozen=True)
class Credentials:
    """role → (Kafka user, password) and role → (S3 access key, secret key)."""

    kafka: dict[str, tuple[str, str]]
    s3: dict[str, tuple[str, str]]
    mac: dict[str, tuple[MacKey, ...]] = field(default_factory=dict)
    """role → its MAC keys, the current one first (``KEPT_MAC_KEYS`` at most)."""

    def to_json(self) -> bytes:
        doc = {
            "comment": "warcflow's local credentials, one per role (docs/operations.md, Roles)",
            "kafka": {role: {"user": u, "password": p} for role, (u, p) in self.kafka.items()},
            "s3": {role: {"access_key": a, "secret_key": k} for role, (a, k) in self.s3.items()},
            "mac": {role: [k.secret.hex() for k in keys] for role, keys in self.mac.items()},
        }
        return json.dumps(doc, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Credentials:
        doc = json.loads(data)
        return cls(
            kafka={r: (v["user"], v["password"]) for r, v in doc.get("kafka", {}).items()},
            s3={r: (v["access_key"], v["secret_key"]) for r, v in doc.get("s3", {}).items()},
            mac={r: tuple(parse_key(f"{r}:{h}") for h in v) for r, v in doc.get("mac", {}).items()},
        )

    def rotated(self, role: str) -> Credentials:
        """The same with new secrets for ``role`` (its names unchanged); a new
        MAC key goes first, the previous one is kept for opening."""
        if role not in ROLES:
            raise ValueError(f"{role!r} is not a role ({', '.join(ROLES)})")
        kafka, s3, mac = dict(self.kafka), dict(self.s3), dict(self.mac)
        if role in kafka:
            kafka[role] = (kafka[role][0], _secret())
        if role in s3:
            s3[role] = (s3[role][0], _secret())
        if role in MAC_ROLES:
            mac[role] = (new_key(role), *mac.get(role, ()))[:KEPT_MAC_KEYS]
        return Credentials(kafka, s3, mac)

    def mac_keys(self, role: str) -> tuple[MacKey, ...]:
        """The MAC keys a process of ``role`` holds: its own role's (the current
        one seals), and for the worker, which opens every internal message,
        every role's."""
        roles = MAC_ROLES if role == "worker" else (role,)
        return tuple(k for r in roles for k in self.mac.get(r, ()))

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(role, Kafka user, password, S3 access key, secret key) for people."""
        out = []
        for role in (r for r in ROLES if r in self.kafka or r in self.s3):
            user, password = self.kafka.get(role, ("–", "–"))
            access, secret = self.s3.get(role, ("–", "–"))
            out.append((role, user, password, access, secret))
        return out


def _secret() -> str:
    # hex: no character that Kafka's SCRAM syntax, JAAS quoting or a shell could mangle
    return secrets.token_hex(24)


def generate() -> Credentials:
    """New random credentials for every role; names are the role names."""
    return Credentials(
        kafka={role: (role, _secret()) for role in KAFKA_ROLES},
        s3={role: (role, _secret()) for role in S3_ROLES},
        mac={role: (new_key(role),) for role in MAC_ROLES},
    )


def path_of(settings: Settings) -> Path:
    configured = settings.values["WARCFLOW_CREDENTIALS"]
    return Path(configured).expanduser() if configured else settings.home / "credentials.json"


def load(path: Path) -> Credentials | None:
    """The file's credentials; None if there is no file. SettingsError if it
    cannot be read or others may read it."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingsError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SettingsError(
            f"the credentials file {path} may be read by others (mode {mode & 0o777:o}): "
            f"chmod 600 {path}"
        )
    try:
        return Credentials.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SettingsError(f"the credentials file {path} is not readable: {exc}") from None


def save(path: Path, credentials: Credentials) -> None:
    """Write atomically, mode 0600 from the start (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(credentials.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def ensure(path: Path) -> tuple[Credentials, bool]:
    """The file's credentials, made (random) if there is no file; (them, made now)."""
    found = load(path)
    if found is not None:
        missing = [r for r in KAFKA_ROLES if r not in found.kafka]
        missing += [r for r in S3_ROLES if r not in found.s3]
        missing += [r for r in MAC_ROLES if not found.mac.get(r)]
        if not missing:
            return found, False
        fresh = generate()  # a file of an older warcflow: add the roles it lacks
        found = Credentials(
            kafka={r: found.kafka.get(r, fresh.kafka[r]) for r in KAFKA_ROLES},
            s3={r: found.s3.get(r, fresh.s3[r]) for r in S3_ROLES},
            mac={r: found.mac.get(r) or fresh.mac[r] for r in MAC_ROLES},
        )
        save(path, found)
        return found, True
    made = generate()
    save(path, made)
    return made, True


def explicit(settings: Settings, name: str) -> bool:
    """Whether setting ``name`` was given (environment, file, flag), not a default."""
    return settings.sources[name] != "default"


def for_role(settings: Settings, role: str, *, local_stack: bool = False) -> Settings:
    """``settings`` with the credentials of ``role`` filled in (see the module
    docstring for the order). ``local_stack``: the command runs the local
    services, whose admin and root always come from the file."""
    found = load(path_of(settings))
    kafka = settings.streams.kafka
    if local_stack or not explicit(settings, "WARCFLOW_KAFKA_USER"):
        user, password = found.kafka.get(role, ("", "")) if found else ("", "")
        kafka = replace(kafka, user=user, password=password)
    store = settings.store
    if local_stack or not explicit(settings, "WARCFLOW_S3_ACCESS_KEY"):
        access, secret = found.s3.get(role, ("", "")) if found else ("", "")
        store = replace(store, access_key=access, secret_key=secret)
    streams = replace(settings.streams, kafka=kafka, role=role)
    if not explicit(settings, "WARCFLOW_MAC_KEYS"):
        streams = replace(streams, mac_keys=found.mac_keys(role) if found else ())
    services = settings.services
    if found is not None:
        admin_user, admin_password = found.kafka.get("admin", ("admin", ""))
        root_access, root_secret = found.s3.get("admin", ("", ""))
        services = replace(
            services,
            kafka_admin_user=admin_user,
            kafka_admin_password=admin_password,
            s3_access_key=root_access,
            s3_secret_key=root_secret,
        )
    return replace(
        settings,
        streams=streams,
        store=store,
        services=services,
        role=role,
    )


def write_kcat_config(path: Path, kafka_access) -> None:
    """A librdkafka configuration file with ``kafka_access``'s user (the
    submitter's), mode 0600: ``kcat -F FILE -P -t <prefix>.ingest`` submits."""
    text = (
        "# the submitter's Kafka credentials, written by `warcflow up` (mode 0600)\n"
        f"bootstrap.servers={kafka_access.bootstrap}\n"
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanisms=SCRAM-SHA-512\n"
        f"sasl.username={kafka_access.user}\n"
        f"sasl.password={kafka_access.password}\n"
    )
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def summary(credentials: Credentials) -> list[dict[str, Any]]:
    """Rows for ``--json`` output."""
    return [
        {"role": r, "kafka_user": u, "kafka_password": p, "s3_access_key": a, "s3_secret_key": k}
        for r, u, p, a, k in credentials.rows()
    ]
