"""A private key kept in a PEM file readable by its owner only.

Invariant: the file is made once (``O_EXCL``, mode 0600) and never rewritten;
a file holding another kind of key is refused rather than replaced.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from cryptography.hazmat.primitives import serialization


class _PrivateKey(Protocol):
    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes: ...


K = TypeVar("K", bound=_PrivateKey)


def private_key(path: Path, generate: Callable[[], K], kind: type, what: str) -> K:
    """The key in ``path`` (PEM, no password), made there by ``generate()`` if
    there is none; ValueError if the file holds something other than a ``kind``."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, kind):
        raise ValueError(f"{path} does not hold an {what} private key")
    return cast(K, key)
