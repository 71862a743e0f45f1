"""``MemoryStore``: the in-package fake ``ObjectStore``, for unit tests of one module.

Not for integration tests: it has no versions (a ``version_id`` asked for is
ignored), no Object Lock, and its conditional put is atomic where real
servers' may not be.
"""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass, field
from datetime import datetime

from archivers.clock import utc_now
from archivers.errors import StoreRefused
from archivers.store.base import StoredObject


@dataclass
class _MemoryObject:
    data: bytes
    last_modified: datetime
    sha256: str


@dataclass
class MemoryStore:
    """In-package fake ``ObjectStore`` for unit tests of one module. Not for integration."""

    bucket: str = "memory"
    objects: dict[str, _MemoryObject] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put_if_absent(self, key, body, *, size, sha256, content_type):
        if not self.put_new(key, body, size=size, sha256=sha256, content_type=content_type):
            return None
        return self.head(key)

    def put_new(self, key, body, *, size, sha256, content_type):
        body.seek(0)
        data = body.read()
        if hashlib.sha256(data).hexdigest() != sha256 or len(data) != size:
            raise StoreRefused(f"checksum mismatch for {key}", reason="store_checksum")
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = _MemoryObject(data, utc_now(), sha256)
        return True

    def put_state(self, key, data: bytes, *, content_type="application/json") -> None:
        self.objects[key] = _MemoryObject(data, utc_now(), hashlib.sha256(data).hexdigest())

    def versions(self, key) -> list[dict]:
        return []

    def head(self, key, version_id=None):
        item = self.objects.get(key)
        if item is None:
            return None
        return StoredObject(key, len(item.data), item.last_modified, item.sha256)

    def get_bytes(self, key, version_id=None):
        return self.objects[key].data

    def open(self, key, byte_range=None, version_id=None):
        data = self.objects[key].data
        if byte_range:
            data = data[byte_range[0] : byte_range[1] + 1]
        return io.BytesIO(data)

    def list_keys(self, prefix):
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))
