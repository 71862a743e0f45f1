"""URLs a stylesheet names, found with tinycss2's tokenizer (CSS Syntax Level 3).

The one module that knows tinycss2. ``css_urls`` returns, in document order,
the targets of ``url(...)`` tokens, of ``url("...")`` functions and of
``@import "..."``: what a stylesheet (or a ``style`` attribute) makes a
browser fetch. The token tree is walked with an explicit stack, so nesting
costs no recursion. A regular expression did this before and backtracked
quadratically on ``"url(" * n`` (a 160 KB stylesheet held a worker 50 s;
review F3); tinycss2 reads each character once. Deeply nested blocks still
cost tinycss2 memory and time in proportion, which is why callers parse in
``archivers.extract.budget`` under a CPU, memory and size budget.
"""

from __future__ import annotations

import tinycss2
from tinycss2 import ast


def css_urls(css: str) -> list[str]:
    """Raw URLs referenced by stylesheet text (``url(...)`` and ``@import``)."""
    found: list[str] = []
    stack: list[list] = [tinycss2.parse_component_value_list(css, skip_comments=True)]
    positions = [0]
    while stack:
        nodes, i = stack[-1], positions[-1]
        if i >= len(nodes):
            stack.pop()
            positions.pop()
            continue
        positions[-1] = i + 1
        node = nodes[i]
        if isinstance(node, ast.URLToken):
            found.append(node.value)
        elif isinstance(node, ast.FunctionBlock):
            if node.lower_name == "url":
                first = _first(node.arguments, 0)
                if isinstance(first, ast.StringToken):
                    found.append(first.value)
            stack.append(node.arguments)
            positions.append(0)
        elif isinstance(node, ast.AtKeywordToken) and node.lower_value == "import":
            after = _first(nodes, i + 1)
            if isinstance(after, ast.StringToken):
                found.append(after.value)
        elif isinstance(
            node, (ast.ParenthesesBlock, ast.SquareBracketsBlock, ast.CurlyBracketsBlock)
        ):
            stack.append(node.content)
            positions.append(0)
    return [url.strip() for url in found if url.strip()]


def _first(nodes: list, start: int):
    """The first token from ``start`` that is not whitespace or a comment."""
    for node in nodes[start : start + 8]:
        if node.type not in ("whitespace", "comment"):
            return node
    return None
