"""How commands talk: data on stdout (text or ``--json``), progress and errors on stderr.

Much of what commands print comes from topics and pages — URLs, reasons,
custody ``who``, titles: anyone's text. So ``guard_terminal`` (called once by
``warcflow.cli.main``) puts a filter on ``sys.stdout`` and ``sys.stderr`` that
shows every C0 and C1 control character but tab and newline as a visible
``\\u00XX`` escape: no ESC/CSI/OSC sequence from a page can rewrite the
operator's screen, set the window title or hide a line with a carriage return
(review F12). The escape is also valid inside a JSON string, so ``--json``
output stays JSON. Bytes written to ``sys.stdout.buffer`` (a WARC to stdout)
pass untouched.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """``text`` with every control character but tab and newline escaped."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _Guarded:
    """A text stream that escapes control characters on their way out."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(safe(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, buffer, fileno, isatty …
        return getattr(self._stream, name)


def guard_terminal() -> None:
    """Filter ``sys.stdout`` and ``sys.stderr`` (once; see the module docstring)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _Guarded):
            setattr(sys, name, _Guarded(stream))


def progress(message: str) -> None:
    print(f"warcflow: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    print(f"warcflow: error: {message}", file=sys.stderr, flush=True)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned text columns; ``None`` shows as ``-``."""
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip()]
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in cells
    ]
    return "\n".join(lines)


def human_size(size: int | None) -> str | None:
    if size is None:
        return None
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
