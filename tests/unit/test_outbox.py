"""The durable outbox: what is put is on disk until the broker acknowledged it,
in order, across a broker outage and a restart (error-path review F8: the
viewer dropped download records when the broker was down, its queue full, or
the viewer exited)."""

from __future__ import annotations

import threading

from streams.clients.outbox import Outbox
from tests.support.stack import poll


class Broker:
    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.got: list[tuple[str, bytes | None, bytes]] = []
        self.refused = 0

    def send(self, topic, key, value):
        if self.down:
            self.refused += 1
            raise ConnectionError("cannot reach the Kafka broker")
        self.got.append((topic, key, value))


def running(outbox: Outbox):
    stop = threading.Event()
    thread = threading.Thread(target=outbox.run, args=(stop.is_set,), daemon=True)
    thread.start()
    return stop, thread


def test_messages_wait_out_an_outage_and_a_restart_and_arrive_in_order(tmp_path):
    broker = Broker(down=True)
    first = Outbox(tmp_path / "outbox", broker.send)
    stop, thread = running(first)
    for n in range(3):
        first.put("t.custody", b"k", b"download %d" % n)
    poll(lambda: broker.refused >= 2, timeout=10, what="the sender to meet the outage")
    stop.set()
    first.wake()
    thread.join(10)  # the viewer exits while the broker is still down
    assert len(first.pending()) == 3 and broker.got == []

    broker.down = False  # a new viewer process, the broker back
    second = Outbox(tmp_path / "outbox", broker.send)
    second.put("t.custody", None, b"download 3")
    stop, thread = running(second)
    poll(lambda: len(broker.got) == 4, timeout=20, what="every kept message sent")
    stop.set()
    second.wake()
    thread.join(10)
    assert [v for _, _, v in broker.got] == [b"download %d" % n for n in range(4)]
    assert broker.got[0][:2] == ("t.custody", b"k") and broker.got[3][1] is None
    assert second.pending() == []


def test_a_damaged_file_is_set_aside_not_sent_and_not_lost(tmp_path):
    broker = Broker()
    outbox = Outbox(tmp_path / "outbox", broker.send)
    (tmp_path / "outbox" / "00000000000000000001-1-00000000.msg").write_bytes(b"{half")
    outbox.put("t.custody", b"k", b"ok")
    stop, thread = running(outbox)
    poll(lambda: broker.got, timeout=10, what="the good message")
    stop.set()
    outbox.wake()
    thread.join(10)
    assert [v for _, _, v in broker.got] == [b"ok"]
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [
        "00000000000000000001-1-00000000.unreadable"
    ]


class SlowBroker(Broker):
    """A first send that takes a while (kafka-python's first: metadata, a producer id)."""

    def __init__(self, takes: float) -> None:
        super().__init__()
        self.takes = takes

    def send(self, topic, key, value):
        threading.Event().wait(self.takes)  # the broker's answer is slow, not a sync point
        super().send(topic, key, value)


def test_flush_lets_the_sender_finish_what_it_keeps_before_a_stop(tmp_path):
    broker = SlowBroker(takes=0.5)
    outbox = Outbox(tmp_path / "outbox", broker.send)
    stop, thread = running(outbox)
    outbox.put("t.custody", b"k", b"download")
    assert outbox.flush(10) is True  # returns once the broker acknowledged it
    assert [v for _, _, v in broker.got] == [b"download"] and outbox.pending() == []
    down = Outbox(tmp_path / "other", Broker(down=True).send)
    stop2, thread2 = running(down)
    down.put("t.custody", None, b"kept")
    assert down.flush(0.3) is False and len(down.pending()) == 1  # kept on disk
    for s, t, o in ((stop, thread, outbox), (stop2, thread2, down)):
        s.set()
        o.wake()
        t.join(10)
