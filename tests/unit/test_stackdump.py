"""streams.stackdump: where each task waits, and nothing of what its frames hold."""

from __future__ import annotations

import asyncio
import threading

from streams import stackdump

SECRET = "s3cret-password-in-a-local"


async def innermost(event: asyncio.Event) -> None:
    password = SECRET  # noqa: F841 - a local the dump must not print
    await event.wait()


async def middle(event: asyncio.Event) -> None:
    await innermost(event)


class Actor:
    """Awaited through ``coro.__await__()``, as faust's agent actors are."""

    def __init__(self, event: asyncio.Event) -> None:
        self.coro = middle(event)

    def __await__(self):
        return self.coro.__await__()


async def outer(event: asyncio.Event) -> None:
    await Actor(event)


def test_a_tasks_chain_goes_down_to_what_it_waits_on_and_prints_no_local():
    async def main() -> str:
        event = asyncio.Event()
        task = asyncio.create_task(outer(event), name="the-capture")
        await asyncio.sleep(0)  # let it reach its wait
        text = stackdump.dump(asyncio.get_running_loop())
        event.set()
        await task
        return text

    text = asyncio.run(main())
    lines = text.splitlines()
    assert lines[0] == "STACK DUMP BEGIN" and lines[-1] == "STACK DUMP END"
    start = lines.index("task the-capture:")
    chain = lines[start + 1 : start + 6]
    assert [line.rsplit(" in ", 1)[-1] for line in chain[:3]] == ["outer", "middle", "innermost"]
    assert "in wait" in chain[3] and "waiting on" in chain[4]  # Event.wait's future
    assert SECRET not in text
    assert any(line.startswith("thread MainThread") for line in lines)


def test_every_thread_is_listed_with_its_stack():
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, name="a-store-call")
    worker.start()
    try:
        text = stackdump.dump(None)
    finally:
        stop.set()
        worker.join()
    assert "thread a-store-call:" in text
    block = text.split("thread a-store-call:")[1].split("\nthread ")[0]
    assert "in wait" in block and "ASYNCIO TASKS" not in text


def test_a_chain_deeper_than_the_limit_is_cut_and_says_so(monkeypatch):
    monkeypatch.setattr(stackdump, "MAX_DEPTH", 2)

    async def main() -> list[str]:
        event = asyncio.Event()
        task = asyncio.create_task(outer(event))
        await asyncio.sleep(0)
        lines = stackdump.await_chain(task.get_coro())
        event.set()
        await task
        return lines

    lines = asyncio.run(main())
    assert lines[-1] == "  ... (cut after 2 frames)" and len(lines) == 3
