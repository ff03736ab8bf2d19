"""Text from outside (file contents, column names, paths, arguments) made safe to show.

A recording's header, a file name or an argument can hold escape sequences that set a
terminal's title, clear its screen or rewrite what was printed before, and bidirectional
controls that reorder what a reader sees. `printable()` writes every such character as a
visible escape (`\\x1b`, `\\u202e`), so untrusted text reaches a terminal, a log line or Rich as
plain characters. Rich markup (`[red]`) is a separate matter: print such text with markup off
(or through `rich.text.Text`), never as markup.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the format characters that hide or reorder text
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                      "\ufeff\ufff9-\ufffb]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, limit: int = 0) -> str:
    """`text` with its control characters as visible escapes; at most `limit` characters
    (then ending in '...') when `limit` > 0."""
    if limit > 0 and len(text) > limit:
        text = text[:limit] + "..."
    return _CONTROL.sub(_escape, text)


def has_control(text: str) -> bool:
    """Whether `text` holds a character that `printable()` would escape."""
    return _CONTROL.search(text) is not None
