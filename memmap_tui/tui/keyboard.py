"""Terminal input to Textual events, with public Textual APIs only (the quiet driver's parser).

Bytes from the terminal go in (`feed`), `textual.events` come out, with the key names Textual
uses (`textual.keys`): UTF-8 text (split across reads or not), control keys (ctrl+a, enter, tab,
backspace), Escape after the escape delay (`deadline()` says when `tick()` is due), CSI and SS3
sequences for arrows, Home/End, PgUp/PgDn, Insert/Delete, F1-F20 with shift/alt/ctrl modifiers,
shift+tab, alt+key (ESC then the key), the kitty keyboard protocol (`CSI code;mods;text u`,
which Textual's driver turns on where the terminal has it) and xterm's modifyOtherKeys.
Focus reports become AppFocus/AppBlur, a bracketed paste one Paste, and a synchronized-output
mode report the message Textual's app waits for. Everything else the terminal sends (mouse
reports, other mode and device reports, OSC/DCS strings, sequences nobody knows) is read whole
and dropped, never replayed as keys. No Textual widgets here; no private Textual module.
"""

from __future__ import annotations

import time
import unicodedata
from codecs import getincrementaldecoder
from typing import Callable, Dict, List, Optional, Tuple

from textual import events
from textual.keys import KEY_NAME_REPLACEMENTS, Keys
from textual.message import Message
from textual.messages import TerminalSupportsSynchronizedOutput

ESC = "\x1b"
PASTE_START, PASTE_END = "200", ESC + "[201~"
PASTE_IDLE_SECONDS = 1.0  # a paste whose end never comes is given up after this much silence
STRING_IDLE_SECONDS = 1.0  # the same for an OSC/DCS/APC string (a terminal's reply)
MAX_SEQUENCE = 64  # a CSI longer than this is garbage: dropped

# The C0 control characters, as Textual names them (the rest are ctrl+a .. ctrl+z).
CONTROL_KEYS: Dict[str, str] = {
    "\x00": Keys.ControlAt.value, "\t": Keys.Tab.value, "\n": Keys.ControlJ.value,
    "\r": Keys.Enter.value, "\x08": Keys.Backspace.value, "\x7f": Keys.Backspace.value,
    "\x1b": Keys.Escape.value, "\x1c": Keys.ControlBackslash.value,
    "\x1d": Keys.ControlSquareClose.value, "\x1e": Keys.ControlCircumflex.value,
    "\x1f": Keys.ControlUnderscore.value,
}
# CSI/SS3 final bytes of keys without a number (`ESC [ A`, `ESC O P`, `ESC [ 1 ; 5 A`).
LETTER_KEYS: Dict[str, str] = {
    "A": "up", "B": "down", "C": "right", "D": "left", "H": "home", "F": "end",
    "P": "f1", "Q": "f2", "R": "f3", "S": "f4",
}
# `ESC [ n ~` keys.
TILDE_KEYS: Dict[int, str] = {
    1: "home", 2: "insert", 3: "delete", 4: "end", 5: "pageup", 6: "pagedown", 7: "home",
    8: "end", 11: "f1", 12: "f2", 13: "f3", 14: "f4", 15: "f5", 17: "f6", 18: "f7", 19: "f8",
    20: "f9", 21: "f10", 23: "f11", 24: "f12", 25: "f13", 26: "f14", 28: "f15", 29: "f16",
    31: "f17", 32: "f18", 33: "f19", 34: "f20",
}
# Kitty protocol code points that are not characters (others in its private range: dropped).
KITTY_KEYS: Dict[int, str] = {
    9: "tab", 13: "enter", 27: "escape", 127: "backspace",
    **{57376 + n: f"f{13 + n}" for n in range(23)},  # F13 .. F35
    **{57399 + n: str(n) for n in range(10)},  # keypad digits
    57409: "decimal", 57410: "divide", 57411: "multiply", 57412: "subtract", 57413: "add",
    57414: "enter", 57415: "equal", 57417: "left", 57418: "right", 57419: "up",
    57420: "down", 57421: "pageup", 57422: "pagedown", 57423: "home", 57424: "end",
    57425: "insert", 57426: "delete",
}
KEY_CHARACTERS = {"enter": "\r", "tab": "\t", "backspace": "\x7f", "escape": ESC}
# Modifier bits (the parameter minus one); caps and num lock (64, 128) are left out.
MODIFIERS: Tuple[Tuple[int, str], ...] = (
    (1, "shift"), (2, "alt"), (4, "ctrl"), (8, "super"), (16, "hyper"), (32, "meta"))
SYNC_OUTPUT_MODE = "2026"

GROUND, ESCAPE, CSI, CSI_SKIP, SS3, STRING, STRING_END, X10_MOUSE, PASTE = range(9)


def character_key(character: str) -> str:
    """Textual's name for the key that types `character`: `a`, `A`, `plus`, `question_mark`."""
    control = CONTROL_KEYS.get(character)
    if control is not None:
        return control
    if "\x01" <= character <= "\x1a":
        return f"ctrl+{chr(ord(character) + 96)}"
    if character.isalnum():
        return character
    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:  # no name (an unassigned code point)
        name = character
    return KEY_NAME_REPLACEMENTS.get(name, name)


def with_modifiers(key: str, bits: int) -> str:
    """`ctrl+shift+up`: the modifiers in `bits` (xterm's parameter minus one), sorted as
    Textual spells them, then the key."""
    names = sorted(name for bit, name in MODIFIERS if bits & bit)
    return "+".join([*names, key])


def _number(text: str, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return -1


def _code_points(field: str) -> str:
    """The kitty protocol's associated text: code points separated by colons."""
    numbers = [_number(part, -1) for part in field.split(":")]
    return "".join(chr(n) for n in numbers if 0 < n < 0x110000)


class InputParser:
    """Turns terminal bytes into Textual messages; one instance per input thread.

    `feed(data)` returns the messages the bytes complete. A sequence left open (a lone ESC, a
    CSI cut between two reads) waits until `deadline()`; `tick()` after that flushes it (a
    lone ESC becomes the Escape key). `clock` is time.monotonic, injectable for tests.
    """

    def __init__(self, escape_delay: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.escape_delay = escape_delay
        self.clock = clock
        self._decode = getincrementaldecoder("utf-8")(errors="replace").decode
        self._state = GROUND
        self._sequence = ""  # the open sequence, ESC included
        self._paste: List[str] = []
        self._last = 0.0  # when the open sequence last grew
        self._out: List[Message] = []

    # -- the interface the input thread uses ---------------------------------------------------
    def feed(self, data: bytes) -> List[Message]:
        """Messages completed by these bytes (UTF-8 split across calls is put back together)."""
        self._last = self.clock()
        for character in self._decode(data):
            self._step(character)
        out, self._out = self._out, []
        return out

    def deadline(self) -> Optional[float]:
        """When tick() has something to flush (clock time), None while nothing is open."""
        if self._state == GROUND:
            return None
        if self._state in (ESCAPE, CSI, CSI_SKIP, SS3):
            return self._last + self.escape_delay
        return self._last + (PASTE_IDLE_SECONDS if self._state == PASTE else STRING_IDLE_SECONDS)

    def tick(self) -> List[Message]:
        """Flush a sequence whose time is up: a lone ESC is the Escape key, ESC [ and ESC O
        are alt+[ and alt+O, an unfinished paste is pasted; anything else is dropped."""
        deadline = self.deadline()
        if deadline is None or self.clock() < deadline:
            return []
        if self._state == ESCAPE:
            self._key(Keys.Escape.value, ESC)
        elif self._state in (CSI, SS3) and len(self._sequence) == 2:
            self._alt(self._sequence[1])
        elif self._state == PASTE:
            self._finish_paste("".join(self._paste))
        self._reset()
        out, self._out = self._out, []
        return out

    # -- the state machine ---------------------------------------------------------------------
    def _reset(self) -> None:
        self._state, self._sequence = GROUND, ""

    def _key(self, key: str, character: Optional[str] = None) -> None:
        self._out.append(events.Key(key, character))

    def _alt(self, character: str) -> None:
        key = character_key(character)
        if len(key) == 1 and key.isupper():
            key = f"shift+{key.lower()}"
        self._key(f"alt+{key}")

    def _step(self, c: str) -> None:
        state = self._state
        if state == PASTE:
            self._paste_step(c)
        elif state == GROUND:
            self._ground(c)
        elif state == ESCAPE:
            self._escape(c)
        elif state in (CSI, CSI_SKIP):
            self._csi(c)
        elif state == SS3:
            self._reset()
            if c == ESC or c < " ":
                self._step(c)  # a broken sequence: the character starts afresh
            else:
                self._ss3(c)
        elif state == X10_MOUSE:
            self._sequence += c
            if len(self._sequence) >= 6:  # ESC [ M and three bytes: a mouse report
                self._reset()
        else:
            self._string(c)

    def _ground(self, c: str) -> None:
        if c == ESC:
            self._state, self._sequence = ESCAPE, ESC
        elif c != "\ufffd":  # U+FFFD: bytes that were not UTF-8, dropped
            self._key(character_key(c), c)

    def _escape(self, c: str) -> None:
        if c == "[":
            self._state, self._sequence = CSI, ESC + c
        elif c == "O":
            self._state, self._sequence = SS3, ESC + c
        elif c in "]P_^X":
            self._state, self._sequence = STRING, ESC + c
        elif c == ESC:
            self._key(Keys.Escape.value, ESC)  # ESC ESC: the first was the Escape key
        else:
            self._reset()
            self._alt(c)

    def _csi(self, c: str) -> None:
        """Parameter and intermediate bytes up to a final byte; CSI_SKIP: one too long to be
        anything we know, read to its end and dropped."""
        if self._state == CSI:
            self._sequence += c
            if len(self._sequence) > MAX_SEQUENCE:
                self._state = CSI_SKIP
        if self._sequence == ESC + "[M":
            self._state = X10_MOUSE
        elif "@" <= c <= "~":
            sequence, skip = self._sequence, self._state == CSI_SKIP
            self._reset()
            if not skip:
                self._csi_done(sequence[2:-1], c)
        elif not " " <= c <= "?":
            self._reset()  # not a CSI after all: drop what came, start again from here
            if c == ESC or c < " ":
                self._step(c)

    def _string(self, c: str) -> None:
        """An OSC/DCS/APC/PM/SOS string, ended by BEL or ESC \\ (ST); its content is dropped."""
        if self._state == STRING_END:
            self._reset()
            if c != "\\":  # not ST: that ESC began another sequence
                self._state, self._sequence = ESCAPE, ESC
                self._escape(c)
        elif c == "\x07":
            self._reset()
        elif c == ESC:
            self._state = STRING_END

    def _paste_step(self, c: str) -> None:
        self._paste.append(c)
        if c == "~" and "".join(self._paste[-len(PASTE_END):]) == PASTE_END:
            self._finish_paste("".join(self._paste[:-len(PASTE_END)]))
            self._reset()

    def _finish_paste(self, text: str) -> None:
        self._paste = []
        self._out.append(events.Paste(text.replace("\x00", "")))

    # -- what a finished sequence means ---------------------------------------------------------
    def _ss3(self, final: str) -> None:
        key = LETTER_KEYS.get(final) or ("enter" if final == "M" else None)
        if key is not None:
            self._key(key)

    def _csi_done(self, params: str, final: str) -> None:
        """`params` are the bytes between `ESC [` and the final byte (intermediates included)."""
        if params[:1] in ("<", "=", ">", "?"):
            self._report(params, final)
            return
        fields = params.split(";")
        if final == "~" and fields[0] == PASTE_START:
            self._state, self._paste = PASTE, []
        elif final in ("I", "O") and not params:
            self._out.append(events.AppFocus() if final == "I" else events.AppBlur())
        elif final == "u":
            self._coded_key(fields)
        elif final == "~" and fields[0] == "27" and len(fields) == 3:  # modifyOtherKeys
            self._coded_key([fields[2], fields[1]])
        elif final == "~":
            self._named_key(TILDE_KEYS.get(_number(fields[0], -1)), fields[1:2])
        elif final == "Z" and not params:
            self._key(Keys.BackTab.value)
        elif final in LETTER_KEYS and (not params or fields[0] == "1") and len(fields) <= 2:
            self._named_key(LETTER_KEYS[final], fields[1:2])
        # anything else (a cursor position report, scrolling, ...) is dropped

    def _report(self, params: str, final: str) -> None:
        """A terminal's reply (`ESC [ ? 2026 ; 2 $ y`) or a mouse report: only the mode report
        that says synchronized output works is passed on (Textual then uses it)."""
        if final == "y" and params.startswith("?") and params.endswith("$"):
            mode, _, setting = params[1:-1].partition(";")
            if mode == SYNC_OUTPUT_MODE and _number(setting, 0) > 0:
                self._out.append(TerminalSupportsSynchronizedOutput())

    def _named_key(self, key: Optional[str], modifier: List[str]) -> None:
        """A key with xterm's modifier parameter (`2` shift ... `8` alt+ctrl+shift)."""
        if key is None:
            return
        mods, _, kind = (modifier[0] if modifier else "").partition(":")
        if kind == "3":
            return  # a key release (kitty protocol)
        bits = _number(mods, 1) - 1
        if bits >= 0:
            self._key(with_modifiers(key, bits))

    def _coded_key(self, fields: List[str]) -> None:
        """`code[:alternates] ; mods[:event] ; text` (kitty) or modifyOtherKeys' code and mods."""
        code = _number(fields[0].partition(":")[0], -1)
        mods, _, kind = (fields[1] if len(fields) > 1 else "").partition(":")
        bits = _number(mods, 1) - 1
        text = _code_points(fields[2]) if len(fields) > 2 else ""
        if code < 0 or bits < 0 or kind == "3" or not 0 <= code < 0x110000:
            return
        key = KITTY_KEYS.get(code)
        if key is None:
            if 0xE000 <= code <= 0xF8FF:
                return  # a modifier pressed alone, a media key: nothing a binding names
            key = character_key(text[:1] or chr(code))
        if text and text.isprintable() and not text.isspace():
            bits &= ~(1 | 2)  # the text already says shift; alt with text is the text
        bits &= 63
        name = with_modifiers(key, bits)
        self._key(name, text or (None if bits else KEY_CHARACTERS.get(key)))
