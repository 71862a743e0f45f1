"""What a running worker is waiting on: every asyncio task's await chain and
every thread's stack, as text an operator gets with ``kill -USR1 <pid>``.

Invariants: the dump names code locations only (file, line, function and the
awaited object's type), never a local variable, so no credential or cookie a
frame holds reaches the log (faust's own SIGUSR1 dump prints locals). A task's
chain follows ``cr_await`` / ``ag_await`` / ``gi_yieldfrom`` down to what it
waits on, not just its outermost frame (``Task.get_stack`` stops there for a
suspended coroutine). Reading the frames changes nothing in the program.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import traceback
from types import FrameType
from typing import Any

MAX_DEPTH = 60
"""Frames followed per task: a deeper chain is cut, and says so."""


def _frame_text(frame: FrameType) -> str:
    code = frame.f_code
    return f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}'


def await_chain(awaitable: Any) -> list[str]:
    """The frames of ``awaitable`` (a coroutine, async generator or generator)
    and of what it awaits, outermost first, then what the innermost waits on."""
    lines: list[str] = []
    current = awaitable
    for _ in range(4 * MAX_DEPTH):  # wrappers between frames count as steps, not frames
        frame = (
            getattr(current, "cr_frame", None)
            or getattr(current, "ag_frame", None)
            or getattr(current, "gi_frame", None)
        )
        if frame is not None:
            if len(lines) == MAX_DEPTH:
                break
            lines.append(_frame_text(frame))
        if isinstance(current, asyncio.Task) and current is not awaitable:
            lines.append(f"  waiting on task {current.get_name()}")
            return lines
        nxt = (
            getattr(current, "cr_await", None)
            or getattr(current, "ag_await", None)
            or getattr(current, "gi_yieldfrom", None)
        )
        if nxt is None and type(current).__name__ == "coroutine_wrapper":
            # ``coro.__await__()`` (faust's actors await one): its coroutine is
            # reachable only as the wrapper's referent
            nxt = next(iter(gc.get_referents(current)), None)
        if nxt is None:
            if frame is None and current is not awaitable:
                kind = type(current)
                lines.append(f"  waiting on {kind.__module__}.{kind.__qualname__}")
            return lines
        current = nxt
    lines.append(f"  ... (cut after {MAX_DEPTH} frames)")
    return lines


def describe_tasks(loop: asyncio.AbstractEventLoop) -> list[str]:
    lines: list[str] = []
    tasks = sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name())
    lines.append(f"ASYNCIO TASKS ({len(tasks)})")
    for task in tasks:
        lines.append(f"task {task.get_name()}:")
        lines.extend(await_chain(task.get_coro()))
    return lines


def describe_threads() -> list[str]:
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()  # how a thread's stack is read
    lines = [f"THREADS ({len(frames)})"]
    for ident, frame in sorted(frames.items(), key=lambda item: names.get(item[0], "")):
        lines.append(f"thread {names.get(ident, ident)}:")
        for summary in traceback.extract_stack(frame):
            lines.append(f'  File "{summary.filename}", line {summary.lineno}, in {summary.name}')
    return lines


def dump(loop: asyncio.AbstractEventLoop | None) -> str:
    """The whole dump: begins ``STACK DUMP BEGIN``, ends ``STACK DUMP END``."""
    lines = ["STACK DUMP BEGIN"]
    if loop is not None:
        lines.extend(describe_tasks(loop))
    lines.extend(describe_threads())
    lines.append("STACK DUMP END")
    return "\n".join(lines)
