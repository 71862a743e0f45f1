"""The viewer's accounts: names, roles, and salted hashes of their secrets.

Roles, each allowed what the one before it is, and more:

    viewer     read (when anonymous reading is off) and download evidence
    submitter  also submit URLs (the form and ``POST /api/submit``)
    admin      also everything later admin pages add; the first account ``warcflow up`` makes

An account has one secret: a password its person chose (typed at ``warcflow
user add``), or a token made for it (``NAME:SECRET``, printed once, for
scripts). Both are kept only as salted hashes: passwords with scrypt (slow on
purpose: a stolen file does not give them away), tokens — 192 random bits, no
dictionary to try — with a salted SHA-256, so checking one on every API call
costs nothing. Comparisons are constant-time (``hmac.compare_digest``).

The file (``HOME/viewer/users.json``) is written atomically with mode 0600 from
the start and refused when others may read it, like the credentials file. The
viewer re-reads it when it changes (its size, mtime or inode), so ``warcflow user
add/remove`` applies to a running viewer at its next request. Each account has a
``generation`` that changes when its secret does: sessions carry it, so replacing
a secret (or removing the account) ends every session it had.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROLES = ("viewer", "submitter", "admin")
"""Lowest first: a role may do what every role before it may."""

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""Account names: no ``:`` (tokens are ``NAME:SECRET``, HTTP Basic the same), no
spaces or controls (they end up in custody entries), at most 64 characters."""

MIN_PASSWORD = 12
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
"""scrypt cost (16 MiB, about 50 ms a check): RFC 7914's interactive setting."""


class AccountError(ValueError):
    """A name, role or secret that cannot be used; the message says why."""


def role_at_least(role: str, wanted: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(wanted)


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    kind: str
    """``password`` or ``token``"""
    scheme: str
    """``scrypt`` or ``sha256`` (salted)"""
    salt: str
    digest: str
    generation: str
    created_at: str

    def public(self) -> dict[str, Any]:
        """What ``warcflow user list --json`` shows: never the hash."""
        return {
            "name": self.name,
            "role": self.role,
            "kind": self.kind,
            "created_at": self.created_at,
        }


def _hash(scheme: str, secret: str, salt: bytes) -> str:
    if scheme == "scrypt":
        return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, dklen=32).hex()
    if scheme == "sha256":
        return hashlib.sha256(salt + secret.encode()).hexdigest()
    raise AccountError(f"unknown hash scheme {scheme!r}")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise AccountError(
            f"{name!r} is not an account name: 1 to 64 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit"
        )
    return name


def make(name: str, role: str, *, password: str | None, at: str) -> tuple[Account, str]:
    """A new account and its secret: ``password`` if given (at least MIN_PASSWORD
    characters), else a token made now (``NAME:SECRET``)."""
    check_name(name)
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role ({', '.join(ROLES)})")
    salt = secrets.token_bytes(16)
    if password is not None:
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
        kind, scheme, secret, shown = "password", "scrypt", password, password
    else:
        secret = secrets.token_hex(24)
        kind, scheme, shown = "token", "sha256", f"{name}:{secret}"
    account = Account(
        name=name,
        role=role,
        kind=kind,
        scheme=scheme,
        salt=salt.hex(),
        digest=_hash(scheme, secret, salt),
        generation=secrets.token_hex(8),
        created_at=at,
    )
    return account, shown


def verify(account: Account, secret: str) -> bool:
    """Whether ``secret`` is the account's (constant-time). A token may be given
    whole (``NAME:SECRET``) or as its secret part."""
    if account.kind == "token" and secret.startswith(account.name + ":"):
        secret = secret[len(account.name) + 1 :]
    try:
        given = _hash(account.scheme, secret, bytes.fromhex(account.salt))
    except (AccountError, ValueError):
        return False
    return hmac.compare_digest(given, account.digest)


class Accounts:
    """The accounts file (see the module docstring). Thread-safe; every read
    looks at the file's identity and re-reads it when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._accounts: dict[str, Account] = {}

    # -- reading --------------------------------------------------------------------

    def _load(self) -> dict[str, Account]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            with self._lock:
                self._seen, self._accounts = None, {}
            return {}
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if identity == self._seen:
                return self._accounts
        if st.st_mode & 0o077:
            raise AccountError(
                f"the accounts file {self.path} may be read by others "
                f"(mode {st.st_mode & 0o777:o}): chmod 600 {self.path}"
            )
        try:
            doc = json.loads(self.path.read_bytes())
            accounts = {a["name"]: Account(**a) for a in doc.get("accounts", [])}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise AccountError(f"the accounts file {self.path} is not readable: {exc}") from None
        with self._lock:
            self._seen, self._accounts = identity, accounts
        return accounts

    def get(self, name: str) -> Account | None:
        return self._load().get(name)

    def all(self) -> list[Account]:
        return sorted(self._load().values(), key=lambda a: a.name)

    def authenticate(self, name: str, secret: str, *, token: bool = False) -> Account | None:
        """The account whose name and secret these are, or None (an unknown name
        costs as much as a wrong secret: no telling which names exist)."""
        account = self.get(name)
        if account is None:
            verify(_DUMMY_TOKEN if token else _DUMMY, secret)
            return None
        return account if verify(account, secret) else None

    def from_token(self, token: str) -> Account | None:
        """The account of a whole token (``NAME:SECRET``), or None."""
        name, sep, secret = token.partition(":")
        if not sep or not NAME.fullmatch(name):
            return None
        return self.authenticate(name, secret, token=True)

    # -- writing (the CLI) ----------------------------------------------------------

    def _save(self, accounts: dict[str, Account]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "comment": "warcflow viewer accounts: salted hashes only (docs/operations.md)",
            "accounts": [asdict(accounts[n]) for n in sorted(accounts)],
        }
        tmp = self.path.with_name(self.path.name + ".new")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(doc, handle, indent=1)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def add(
        self, name: str, role: str, *, password: str | None, at: str, replace_existing: bool = False
    ) -> tuple[Account, str]:
        """Add (or, with ``replace_existing``, give a new secret and role to) an
        account; (it, the secret to show once)."""
        accounts = dict(self._load())
        if name in accounts and not replace_existing:
            raise AccountError(
                f"there is already an account {name!r} (--replace gives it a new secret)"
            )
        account, shown = make(name, role, password=password, at=at)
        if name in accounts:
            account = replace(account, created_at=accounts[name].created_at)
        accounts[name] = account
        self._save(accounts)
        return account, shown

    def remove(self, name: str) -> bool:
        accounts = dict(self._load())
        if accounts.pop(name, None) is None:
            return False
        self._save(accounts)
        return True

    def has_admin(self) -> bool:
        return any(a.role == "admin" for a in self._load().values())


_DUMMY = Account("-", "viewer", "password", "scrypt", "00" * 16, "00" * 32, "-", "-")
_DUMMY_TOKEN = replace(_DUMMY, kind="token", scheme="sha256")
