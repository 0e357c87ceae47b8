"""What a screening record can keep: JSON that both stores store alike.

PostgreSQL refuses NUL in text and jsonb refuses non-finite numbers; UTF-8 has no lone surrogates (which
``"\\ud800"`` in JSON text, or a multipart body in another charset, makes); SQLite takes all three. So
they are refused at the door, on every path, and once more before a record is kept.
"""

from __future__ import annotations

import math
from typing import Any

from app.domain.errors import InputRefused

MAX_DEPTH = 32  # at the door, for what a request posts
KEPT_DEPTH = 512  # for what is kept: json.dumps itself gives up near 1,000


def text_problem(value: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """The first thing in a JSON-like value a record cannot keep, as (zh, en); None when there is none.

    Walked without recursion: a document nested thousands deep is refused, not a stack overflow."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            if "\x00" in v:
                return "文本中含有 NUL 字符", "text holds a NUL character"
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return "文本中含有孤立的 UTF-16 代理码（不是 Unicode 字符）", "text holds a lone surrogate (no Unicode character)"
        elif isinstance(v, float):
            if not math.isfinite(v):
                return "数值超出范围（非有限数）", "a number is not finite"
        elif isinstance(v, dict | list | tuple):
            if depth >= max_depth:
                return f"嵌套超过 {max_depth} 层", f"nested deeper than {max_depth} levels"
            items = [x for kv in v.items() for x in kv] if isinstance(v, dict) else v
            stack.extend((x, depth + 1) for x in items)
    return None


def refuse_unkeepable(value: Any, code: str, what_zh: str, what_en: str, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``InputRefused(code)`` saying what (``what_zh``, ``what_en``) a record could not keep, and why."""
    problem = text_problem(value, max_depth)
    if problem:
        raise InputRefused(code, f"{what_zh}：{problem[0]}", f"{what_en}: {problem[1]}")
