"""The session vault: logged-in sessions encrypted at rest, their state beside them.

A session is a site (``x.com``: the host and its subdomains), the public handle
of the account it is logged in as (what custody records name, e.g.
``@research_account``), the account's cookies, and optionally the HTTP proxy
every request made with it goes through (``archivers.net.proxy``; its password
is a secret like the cookies; a vault written before proxies existed reads as
sessions without one). The vault file holds every
session as one JSON document sealed with AES-256-GCM (``cryptography``): the
file is ``WFSV1`` + a 12-byte random nonce + ciphertext, the header its
associated data. The key is 32 random bytes in its own file (hex, mode 0600,
made once), held by the operator and the worker and nobody else: the viewer
and the CLI's reading commands never open either file
(docs/decisions/0021-sessions.md).

The state file beside it is not secret (``archivers.sessions.state``): per
session id, ``active``, ``expired`` or ``challenged``, why, and when, with the
session's public facts (site, handle, when added) for readers that may not
open the vault, the viewer first. Workers write it when a capture made with a
session lands on a login page or a challenge; ``session add`` and
``session test`` reset it; ``add`` and ``remove`` write every session's
public facts into it (so a state file from before they were kept gets them).

Invariants: a cookie value or a proxy's password is never in the state file,
a log line, an error message, a Kafka message or a stored record
(``archivers.net.cookies`` withholds cookies from WARC records; a proxy's
password is sent to the proxy only); every write is atomic (a temporary file
renamed into place) under an exclusive lock, so a worker marking a session
and an operator adding one never lose each other's change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archivers.clock import iso, parse_iso, utc_now
from archivers.net.cookies import Cookie, SessionCookies, in_site, of_site
from archivers.net.proxy import Proxy
from archivers.sessions.state import (
    ACTIVE,
    CHALLENGED,
    EXPIRED,
    PUBLIC,
    SIZES,
    STATES,
    WALLS,
    StateUnreadable,
    read_states,
    standing,
    state_path,
)

KEPT_SIZES = 20
"""Page sizes kept per site for the "much smaller than usual" rule."""

__all__ = ["ACTIVE", "CHALLENGED", "EXPIRED", "STATES", "WALLS", "Session", "Vault", "VaultError"]

MAGIC = b"WFSV1"


class VaultError(Exception):
    """The vault cannot be read or written as asked: what to fix is in the message."""


@dataclass(frozen=True)
class Session:
    session_id: str
    site: str
    """A host name: the session serves it and its subdomains."""
    handle: str
    """The account's public handle, named in custody records (never a secret)."""
    cookies: tuple[Cookie, ...]
    added_at: str
    proxy: Proxy | None = None
    """The proxy every request made with the session goes through, or None."""

    def serves(self, host: str) -> bool:
        return in_site(host, self.site)

    def jar(self) -> SessionCookies:
        return SessionCookies(self.session_id, self.cookies, self.proxy)

    def public(self) -> dict[str, str]:
        """What a capture records about the session that saw the post: its id,
        site and handle, and ``proxy`` (``host:port`` only, never the user or
        password) when its requests went through one — the platform saw the
        proxy's address, not the worker's."""
        out = {"id": self.session_id, "site": self.site, "handle": self.handle}
        if self.proxy is not None:
            out["proxy"] = self.proxy.address
        return out

    def facts(self) -> dict[str, str]:
        """The public facts the state file keeps (``archivers.sessions.state.PUBLIC``)."""
        return {name: getattr(self, name) for name in PUBLIC}


def normal_site(site: str) -> str:
    site = site.strip().lower().rstrip(".")
    site = re.sub(r"^https?://", "", site).split("/", 1)[0]
    if site.startswith("www."):
        site = site[4:]
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", site):
        raise VaultError(f"{site!r} is not a site: give a host name such as x.com")
    return site


class Vault:
    """The encrypted sessions in ``path``, their state in ``path``.state.json."""

    def __init__(self, path: Path, key_path: Path) -> None:
        self.path = path
        self.key_path = key_path
        self.state_path = state_path(path)
        self._lock_path = path.with_name(path.name + ".lock")

    # --- the key -------------------------------------------------------
    def _key(self, create: bool) -> bytes:
        if not self.key_path.exists():
            if not create:
                raise VaultError(
                    f"no vault key at {self.key_path}: sessions are added with "
                    "`warcflow session add`, which makes it (WARCFLOW_SESSION_KEY names it)"
                )
            self.key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
        try:
            key = bytes.fromhex(self.key_path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise VaultError(f"cannot read the vault key {self.key_path}: {exc}") from None
        if len(key) != 32:
            raise VaultError(f"{self.key_path} does not hold a 256-bit key (64 hex digits)")
        return key

    # --- the sessions --------------------------------------------------
    def sessions(self) -> list[Session]:
        """Every session (cookies included: for the worker and `session test`)."""
        if not self.path.exists():
            return []
        blob = self.path.read_bytes()
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 12 + 16:
            raise VaultError(f"{self.path} is not a warcflow session vault")
        nonce, sealed = blob[len(MAGIC) : len(MAGIC) + 12], blob[len(MAGIC) + 12 :]
        try:
            plain = AESGCM(self._key(create=False)).decrypt(nonce, sealed, MAGIC)
        except InvalidTag:
            raise VaultError(
                f"{self.path} does not open with the key in {self.key_path} "
                "(another key, or the file was changed)"
            ) from None
        out = []
        for doc in json.loads(plain)["sessions"]:
            cookies = tuple(Cookie(**c) for c in doc.pop("cookies"))
            proxy = doc.pop("proxy", None)  # absent from vaults written before proxies
            out.append(Session(cookies=cookies, proxy=Proxy(**proxy) if proxy else None, **doc))
        return out

    def _write(self, sessions: list[Session]) -> None:
        docs = []
        for session in sessions:
            doc = asdict(session)
            doc["cookies"] = [asdict(c) for c in session.cookies]
            docs.append(doc)
        plain = json.dumps({"sessions": docs}).encode("utf-8")
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._key(create=True)).encrypt(nonce, plain, MAGIC)
        _atomic(self.path, MAGIC + nonce + sealed)

    def add(
        self,
        site: str,
        handle: str,
        cookies: tuple[Cookie, ...],
        now: datetime | None = None,
        proxy: Proxy | None = None,
    ) -> Session:
        site = normal_site(site)
        serving = of_site(cookies, site)
        if not serving:
            raise VaultError(
                f"none of the {len(cookies)} cookies is for {site} or its subdomains: "
                "export the cookies while logged in to that site"
            )
        with self._locked():
            sessions = self.sessions()
            session = Session(
                session_id=f"s-{secrets.token_hex(4)}",
                site=site,
                handle=handle.strip() or "(unnamed)",
                cookies=serving,
                added_at=iso(now or utc_now()),
                proxy=proxy,
            )
            self._write([*sessions, session])
            states = self.states()
            states[session.session_id] = {
                "state": ACTIVE,
                "reason": "added",
                "at": session.added_at,
            }
            self._put_states(_with_facts(states, [*sessions, session]))
        return session

    def remove(self, session_id: str) -> Session:
        with self._locked():
            sessions = self.sessions()
            gone = [s for s in sessions if s.session_id == session_id]
            if not gone:
                raise VaultError(f"no session {session_id} (see `warcflow session list`)")
            kept = [s for s in sessions if s.session_id != session_id]
            self._write(kept)
            states = self.states()
            states.pop(session_id, None)
            self._put_states(_with_facts(states, kept))
        return gone[0]

    # --- their state ---------------------------------------------------
    def states(self) -> dict[str, dict[str, Any]]:
        try:
            return read_states(self.state_path)
        except StateUnreadable as exc:
            raise VaultError(str(exc)) from None

    def _put_states(self, states: dict[str, dict[str, Any]]) -> None:
        _atomic(self.state_path, json.dumps(states, indent=1, sort_keys=True).encode("utf-8"))

    def state_of(self, session_id: str) -> str:
        return self.states().get(session_id, {}).get("state", ACTIVE)

    def mark(
        self,
        session: Session | str,
        state: str,
        reason: str,
        now: datetime | None = None,
    ) -> str:
        """Put ``session`` (a Session, whose public facts are written too, or an id)
        in ``state``; the state it was in before (read under the same lock, so of
        two workers marking one session only one sees it change)."""
        if state not in STATES:
            raise ValueError(f"{state!r} is not a session state")
        session_id = session if isinstance(session, str) else session.session_id
        with self._locked():
            states = self.states()
            before = states.get(session_id, {})
            states[session_id] = {
                **before,
                **({} if isinstance(session, str) else session.facts()),
                "state": state,
                "reason": reason,
                "at": iso(now or utc_now()),
            }
            self._put_states(states)
        return str(before.get("state", ACTIVE))

    def note_wall(self, url: str, session_id: str, now: datetime | None = None) -> str | None:
        """Note that ``session_id`` met a wall at ``url``; the other session that met
        one there within the last hour, if any (the last 1,000 URLs are kept)."""
        moment = now or utc_now()
        with self._locked():
            states = self.states()
            walls = states.setdefault(WALLS, {})
            earlier = walls.get(url)
            walls[url] = {"session": session_id, "at": iso(moment)}
            for old in list(walls)[:-1000]:
                del walls[old]
            self._put_states(states)
        if (
            earlier
            and earlier["session"] != session_id
            and (moment - parse_iso(earlier["at"])).total_seconds() < 3600
        ):
            return str(earlier["session"])
        return None

    def usual_sizes(self, site: str) -> list[int]:
        """The latest page sizes (decoded bytes) of ``site`` — a host — seen with a
        session, oldest first."""
        sizes = self.states().get(SIZES, {}).get(site, [])
        return [int(n) for n in sizes if isinstance(n, int)]

    def note_size(self, site: str, size: int) -> None:
        """Note the size of a page of ``site`` a session saw as the post (the last
        ``KEPT_SIZES`` are kept)."""
        with self._locked():
            states = self.states()
            sizes = states.setdefault(SIZES, {})
            sizes[site] = [*sizes.get(site, []), int(size)][-KEPT_SIZES:]
            self._put_states(states)

    def touch(self, session_id: str, now: datetime | None = None) -> None:
        """Note that a capture just took the session (rotation picks the least recent)."""
        with self._locked():
            states = self.states()
            entry = states.setdefault(
                session_id, {"state": ACTIVE, "reason": "added", "at": iso(now or utc_now())}
            )
            entry["used_at"] = iso(now or utc_now())
            entry["uses"] = int(entry.get("uses", 0)) + 1
            self._put_states(states)

    def listing(self) -> list[dict[str, Any]]:
        """What `session list` shows: no cookie value, only their number and
        expiry; the proxy as ``proxy`` (``host:port``) and ``proxy_url`` (its
        user shown, its password ``***``)."""
        states = self.states()
        out = []
        for s in self.sessions():
            expiries = [c.expires for c in s.cookies if c.expires]
            known = standing(s.session_id, states.get(s.session_id))
            out.append(
                {
                    "proxy": None,
                    **s.public(),
                    "proxy_url": s.proxy.shown if s.proxy else None,
                    "added_at": s.added_at,
                    "cookies": len(s.cookies),
                    "cookies_expire_at": (
                        iso(datetime.fromtimestamp(min(expiries), UTC)) if expiries else None
                    ),
                    "state": known.state,
                    "reason": known.reason,
                    "state_at": known.since,
                    "used_at": known.used_at,
                    "uses": known.uses,
                }
            )
        return out

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "r+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def _with_facts(
    states: dict[str, dict[str, Any]], sessions: list[Session]
) -> dict[str, dict[str, Any]]:
    """``states`` with every session's public facts (an entry made for a session
    that had none: active since it was added)."""
    for s in sessions:
        entry = states.setdefault(
            s.session_id, {"state": ACTIVE, "reason": "added", "at": s.added_at}
        )
        entry.update(s.facts())
    return states


def _atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # a leftover (or a planted link) is never written through
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
