"""The custody ledger on the in-package store fake: append-only, reloadable,
signed heads stamped by every TSA, one entry per event however often it arrives
— also after a reload, for an event inside a full tile (error-path review F7)."""

import hashlib
import json

import pytest

from archivers.custody import ledger as L
from archivers.custody import merkle
from archivers.custody.rfc3161 import verify_token
from archivers.custody.treehead import HeadSigner, TreeHead, verify_head
from archivers.store.memory import MemoryStore
from infra.tsa import LocalTSA


def event(n: int, capture: str | None = "01KCAPTURE0000000000000000") -> L.CustodyEvent:
    return L.CustodyEvent(
        "capture",
        f"stored:{n}",
        "2026-11-25T10:00:00.000000Z",
        "test",
        capture_id=capture,
        url=f"https://example.org/{n}",
        objects=(L.ObjectDigest(f"warc/{n}", hashlib.sha256(b"%d" % n).hexdigest(), 1),),
    )


class Down:
    """A TSA that does not answer."""

    name = "down"

    def ca_pem(self):
        return b""

    def stamp(self, digest_hex):
        raise OSError("connection refused")


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    return LocalTSA(tmp_path_factory.mktemp("tsa"))


@pytest.fixture
def signer(tmp_path):
    return HeadSigner.from_file(tmp_path / "key.pem")


def test_entries_are_appended_once_and_listed_per_capture():
    store = MemoryStore()
    ledger = L.Ledger(store)
    first = ledger.append(event(1))
    assert first.index == 0 and ledger.append(event(1)) is None  # redelivered: not twice
    ledger.append(event(2, capture="01KOTHER00000000000000000"))
    assert ledger.size == 2
    assert [e.event.event_id for e in L.capture_entries(store, "01KCAPTURE0000000000000000")] == [
        "stored:1"
    ]
    assert store.get_bytes(L.entry_key(0)) == first.data
    assert merkle.leaf_hash(first.data) == first.leaf


def test_a_second_writer_never_overwrites_an_entry():
    store = MemoryStore()
    one, two = L.Ledger(store), L.Ledger(store)
    one.append(event(1))
    two.load()
    one.append(event(2))  # two's view is now stale
    entry = two.append(event(3))
    assert entry.index == 2
    assert [
        L.Entry.from_data(store.get_bytes(L.entry_key(i))).event.event_id for i in range(3)
    ] == ["stored:1", "stored:2", "stored:3"]
    assert two.append(event(2)) is None  # seen on reload


def test_reload_reads_tiles_and_the_tail():
    store = MemoryStore()
    ledger = L.Ledger(store)
    for n in range(L.TILE + 5):
        ledger.append(event(n, capture=None))
    assert L.tile_key(0) in store.objects
    again = L.Ledger(store)
    again.load()
    assert again.hashes == ledger.hashes
    assert again.append(event(L.TILE + 1, capture=None)) is None


def test_an_edited_entry_is_refused_on_reading():
    store = MemoryStore()
    L.Ledger(store).append(event(1))
    data = store.get_bytes(L.entry_key(0))
    with pytest.raises(ValueError, match="canonical"):
        L.Entry.from_data(data.replace(b'"who":"test"', b'"who": "test"'))


def test_heads_are_signed_stamped_and_consistent(signer, tsa):
    store = MemoryStore()
    ledger = L.Ledger(store, signer, [tsa])
    ledger.publish_key()
    ledger.append(event(1))
    first = ledger.publish_head()
    assert first.head.size == 2 and ledger.publish_head() is None  # nothing new
    ledger.append(event(2))
    second = ledger.publish_head()
    pem = store.get_bytes(L.public_key_key(signer.key_id))
    head = TreeHead.from_json(store.get_bytes(L.head_key(3)))
    assert verify_head(head, pem) and head.root == merkle.root(ledger.hashes).hex()
    token = store.get_bytes(second.tokens[0])
    assert verify_token(
        hashlib.sha256(store.get_bytes(second.key)).hexdigest(), token, tsa.ca_pem()
    )
    proof = json.loads(store.get_bytes(L.consistency_key(2, 3)))
    assert merkle.verify_consistency(
        2,
        3,
        bytes.fromhex(first.head.root),
        bytes.fromhex(head.root),
        [bytes.fromhex(p) for p in proof["proof"]],
    )
    key_entry = L.Entry.from_data(store.get_bytes(L.entry_key(0)))
    assert key_entry.event.event == "key" and key_entry.event.detail["key_id"] == signer.key_id
    assert L.covering_head_key(store, 2) == L.head_key(3)


def test_one_tsa_down_does_not_stop_the_head(signer, tsa):
    ledger = L.Ledger(MemoryStore(), signer, [Down(), tsa])
    ledger.append(event(1))
    published = ledger.publish_head()
    assert len(published.tokens) == 1 and "down: connection refused" in published.problems[0]


def test_a_tile_never_written_is_read_from_its_entries_and_written_on_load():
    store = MemoryStore()
    ledger = L.Ledger(store)
    for n in range(2 * L.TILE + 3):
        ledger.append(event(n, capture=None))
    del store.objects[L.tile_key(0)]  # the writer died before writing it
    again = L.Ledger(store)
    again.load()
    assert again.hashes == ledger.hashes and L.tile_key(0) in store.objects


def test_a_head_no_tsa_stamps_is_not_published_but_signed_again_when_one_is_back(signer, tsa):
    """Issue 16: a head stamped only hours after its signer's time would look back-dated."""
    store = MemoryStore()
    ledger = L.Ledger(store, signer, [Down()])
    ledger.append(event(1))
    assert ledger.publish_head() is None and L.latest_head(store) is None
    ledger.stampers = (tsa,)
    again = ledger.publish_head()
    assert again is not None and len(again.tokens) == 1
    assert L.coverage(store, 1) == {"local": again.tokens[0]}
    assert ledger.publish_head() is None


def test_an_event_inside_a_full_tile_is_not_appended_again_after_a_reload():
    """Review F7: with 261 entries, a reload, then event 3 again, the old writer
    appended it at index 261 (it knew only the ids after the last tile)."""
    store = MemoryStore()
    ledger = L.Ledger(store)
    for n in range(L.TILE + 5):
        ledger.append(event(n, capture=None))
    again = L.Ledger(store)
    again.load()
    for n in (3, 0, L.TILE - 1, L.TILE + 1):
        assert again.append(event(n, capture=None)) is None
    assert again.size == L.TILE + 5 == L.log_size(store)
    # the whole topic read again from offset 0 (expired group offsets): nothing twice
    fresh = L.Ledger(store)
    assert [fresh.append(event(n, capture=None)) for n in range(L.TILE + 5)] == [None] * (
        L.TILE + 5
    )
    ids = [
        L.Entry.from_data(store.get_bytes(k)).event.event_id
        for k in store.list_keys("ledger/entries/")
    ]
    assert len(ids) == len(set(ids)) == L.TILE + 5


def test_a_log_written_before_the_id_index_gets_it_on_its_first_load():
    store = MemoryStore()
    ledger = L.Ledger(store)
    for n in range(L.TILE + 2):
        ledger.append(event(n, capture=None))
    for key in [k for k in store.objects if k.startswith(("ledger/ids/", "ledger/tile-ids/"))]:
        del store.objects[key]  # as an older warcflow left it
    again = L.Ledger(store)
    again.load()
    assert L.tile_ids_key(0) in store.objects
    assert again.append(event(5, capture=None)) is None
    assert L.entry_index_of(store, "stored:5") == 5


def test_an_entry_whose_id_a_crash_did_not_index_is_indexed_on_load():
    store = MemoryStore()
    ledger = L.Ledger(store)
    ledger.append(event(1, capture=None))
    del store.objects[L.event_id_key("stored:1")]  # died between the entry and its id
    L.Ledger(store).load()
    assert L.entry_index_of(store, "stored:1") == 0


def test_a_head_one_of_two_tsas_missed_is_stamped_by_it_when_it_is_back(signer, tsa):
    """Review item 16: only heads with no token at all were stamped again."""
    store = MemoryStore()

    class Flaky:
        name = "second"
        up = False

        def ca_pem(self):
            return tsa.ca_pem()

        def stamp(self, digest_hex):
            if not self.up:
                raise OSError("connection refused")
            return tsa.stamp(digest_hex)

    second = Flaky()
    ledger = L.Ledger(store, signer, [tsa, second])
    ledger.append(event(1))
    first = ledger.publish_head()
    assert len(first.tokens) == 1 and first.problems
    ledger.append(event(2))
    assert len(ledger.publish_head().tokens) == 1  # still down for the next head
    second.up = True
    ledger.publish_head()  # nothing new: but both heads get the second TSA's token
    for size in (1, 2):
        names = sorted(k.rsplit("-", 1)[1] for k in store.list_keys(L.tokens_prefix(size)))
        assert names == ["local.tsr", "second.tsr"], (size, names)
    # a writer loaded afresh finds nothing left to stamp
    assert L.Ledger(store, signer, [tsa, second]).publish_head() is None
