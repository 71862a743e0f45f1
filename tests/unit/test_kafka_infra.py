"""infra/kafka.py pieces that need no broker."""

import uuid

from infra import kafka


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    # base64url of these bytes starts with "-": the storage tool's command line
    # would read such an id as an option, and formatting would fail.
    dashed = uuid.UUID(bytes=b"\xfb" + bytes(15))
    plain = uuid.UUID(bytes=b"\x10" + bytes(15))
    draws = iter([dashed, dashed, plain])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka._random_cluster_id()
    assert cluster_id == "EAAAAAAAAAAAAAAAAAAAAA"
    assert len(cluster_id) == 22
