"""The quiet driver's input parser (memmap_tui.tui.keyboard), byte by byte: text, control keys,
Escape after the escape delay, CSI/SS3 keys with modifiers, the kitty protocol, sequences split
across reads at every byte, UTF-8 split across reads, and what terminals send that is not a key.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import pytest
from textual import events
from textual.keys import Keys
from textual.messages import TerminalSupportsSynchronizedOutput

from memmap_tui.tui.keyboard import InputParser, character_key

DELAY = 0.1


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def parser() -> Tuple[InputParser, Clock]:
    clock = Clock()
    return InputParser(DELAY, clock=clock), clock


def described(messages: Sequence[object]) -> List[Tuple[str, object]]:
    """(kind, key or text) of each message."""
    out: List[Tuple[str, object]] = []
    for m in messages:
        if isinstance(m, events.Key):
            out.append(("key", m.key))
        elif isinstance(m, events.Paste):
            out.append(("paste", m.text))
        else:
            out.append((type(m).__name__, None))
    return out


def keys_of(data: bytes, split: Sequence[int] = (), wait: bool = True) -> List[str]:
    """The key names `data` gives, fed in pieces cut at `split`; then the escape delay runs out."""
    p, clock = parser()
    messages: list = []
    start = 0
    for cut in [*split, len(data)]:
        messages += p.feed(data[start:cut])
        start = cut
    if wait:
        clock.now += DELAY * 2
        messages += p.tick()
    return [m.key for m in messages if isinstance(m, events.Key)]


# -- text and control keys ------------------------------------------------------------------
@pytest.mark.parametrize("text,key", [
    (b"a", "a"), (b"Z", "Z"), (b"7", "7"), (b" ", "space"), (b"+", "plus"), (b"-", "minus"),
    (b"?", "question_mark"), (b"/", "slash"), (b"@", "at"), (b"_", "underscore"),
    ("é".encode(), "é"), ("日".encode(), "日"),
])
def test_a_typed_character_is_a_key_with_textuals_name(text, key):
    p, _ = parser()
    (message,) = p.feed(text)
    assert isinstance(message, events.Key)
    assert (message.key, message.character) == (key, text.decode())


@pytest.mark.parametrize("byte,key", [
    (b"\r", "enter"), (b"\t", "tab"), (b"\x7f", "backspace"), (b"\x08", "backspace"),
    (b"\x01", "ctrl+a"), (b"\x03", "ctrl+c"), (b"\x10", "ctrl+p"), (b"\x11", "ctrl+q"),
    (b"\x1a", "ctrl+z"), (b"\x00", "ctrl+@"), (b"\n", "ctrl+j"), (b"\x1c", "ctrl+backslash"),
    (b"\x1d", "ctrl+right_square_bracket"), (b"\x1f", "ctrl+underscore"),
])
def test_control_characters_are_textuals_control_keys(byte, key):
    p, _ = parser()
    (message,) = p.feed(byte)
    assert message.key == key and message.character == byte.decode()


def test_several_keys_in_one_read_come_in_order():
    assert keys_of(b"q1?\r") == ["q", "1", "question_mark", "enter"]


@pytest.mark.parametrize("character,key", [("é", "é"), ("日", "日"), ("🚀", "rocket")])
def test_utf8_split_across_reads_is_one_key(character, key):
    data = character.encode()
    p, _ = parser()
    got: list = []
    for i in range(len(data)):
        got += p.feed(data[i:i + 1])
        if i < len(data) - 1:
            assert got == []  # nothing until the character is whole
    assert [(m.key, m.character) for m in got] == [(key, character)]


def test_bytes_that_are_not_utf8_are_dropped_and_the_next_key_still_comes():
    assert keys_of(b"\xff\xfeq") == ["q"]


# -- Escape ---------------------------------------------------------------------------------
def test_a_lone_escape_waits_for_the_escape_delay():
    p, clock = parser()
    assert p.feed(b"\x1b") == []
    assert p.deadline() == pytest.approx(clock.now + DELAY)
    clock.now += DELAY / 2
    assert p.tick() == []
    clock.now += DELAY
    (message,) = p.tick()
    assert (message.key, message.character) == ("escape", "\x1b")
    assert p.deadline() is None  # nothing open: the input thread may sleep


def test_nothing_open_means_no_deadline():
    p, _ = parser()
    assert p.deadline() is None
    p.feed(b"q\x1b[A")
    assert p.deadline() is None


def test_escape_escape_is_one_escape_at_once_and_one_after_the_delay():
    p, clock = parser()
    assert described(p.feed(b"\x1b\x1b")) == [("key", "escape")]
    clock.now += 1
    assert described(p.tick()) == [("key", "escape")]


def test_escape_then_a_sequence_in_the_same_read():
    assert keys_of(b"\x1b\x1b[A") == ["escape", "up"]


@pytest.mark.parametrize("data,key", [(b"\x1ba", "alt+a"), (b"\x1bA", "alt+shift+a"),
                                      (b"\x1b1", "alt+1"), (b"\x1b\r", "alt+enter")])
def test_escape_then_a_key_within_the_delay_is_alt(data, key):
    assert keys_of(data) == [key]


def test_escape_then_a_key_after_the_delay_is_two_keys():
    p, clock = parser()
    p.feed(b"\x1b")
    clock.now += DELAY * 2
    got = p.tick() + p.feed(b"q")
    assert [m.key for m in got] == ["escape", "q"]


@pytest.mark.parametrize("data,key", [(b"\x1b[", "alt+left_square_bracket"),
                                      (b"\x1bO", "alt+shift+o")])
def test_an_unfinished_introducer_times_out_as_alt_key(data, key):
    assert keys_of(data) == [key]


# -- CSI and SS3 keys -----------------------------------------------------------------------
SEQUENCES = [
    (b"\x1b[A", "up"), (b"\x1b[B", "down"), (b"\x1b[C", "right"), (b"\x1b[D", "left"),
    (b"\x1bOA", "up"), (b"\x1bOB", "down"), (b"\x1bOC", "right"), (b"\x1bOD", "left"),
    (b"\x1b[H", "home"), (b"\x1b[F", "end"), (b"\x1bOH", "home"), (b"\x1bOF", "end"),
    (b"\x1b[1~", "home"), (b"\x1b[4~", "end"), (b"\x1b[7~", "home"), (b"\x1b[8~", "end"),
    (b"\x1b[2~", "insert"), (b"\x1b[3~", "delete"), (b"\x1b[5~", "pageup"),
    (b"\x1b[6~", "pagedown"), (b"\x1b[Z", "shift+tab"), (b"\x1bOM", "enter"),
    (b"\x1bOP", "f1"), (b"\x1bOQ", "f2"), (b"\x1bOR", "f3"), (b"\x1bOS", "f4"),
    (b"\x1b[11~", "f1"), (b"\x1b[12~", "f2"), (b"\x1b[13~", "f3"), (b"\x1b[14~", "f4"),
    (b"\x1b[15~", "f5"), (b"\x1b[17~", "f6"), (b"\x1b[18~", "f7"), (b"\x1b[19~", "f8"),
    (b"\x1b[20~", "f9"), (b"\x1b[21~", "f10"), (b"\x1b[23~", "f11"), (b"\x1b[24~", "f12"),
    (b"\x1b[1;2A", "shift+up"), (b"\x1b[1;5A", "ctrl+up"), (b"\x1b[1;6A", "ctrl+shift+up"),
    (b"\x1b[1;3D", "alt+left"), (b"\x1b[1;4B", "alt+shift+down"),
    (b"\x1b[1;7C", "alt+ctrl+right"), (b"\x1b[1;8D", "alt+ctrl+shift+left"),
    (b"\x1b[1;5H", "ctrl+home"), (b"\x1b[1;2F", "shift+end"), (b"\x1b[1;2P", "shift+f1"),
    (b"\x1b[1;5P", "ctrl+f1"), (b"\x1b[15;2~", "shift+f5"), (b"\x1b[15;5~", "ctrl+f5"),
    (b"\x1b[3;5~", "ctrl+delete"), (b"\x1b[3;2~", "shift+delete"),
    (b"\x1b[5;2~", "shift+pageup"), (b"\x1b[6;5~", "ctrl+pagedown"),
    (b"\x1b[2;3~", "alt+insert"),
]


@pytest.mark.parametrize("data,key", SEQUENCES)
def test_a_key_sequence_is_its_key(data, key):
    assert keys_of(data, wait=False) == [key]


@pytest.mark.parametrize("data,key", SEQUENCES)
def test_a_key_sequence_split_at_every_byte_is_still_its_key(data, key):
    for cut in range(1, len(data)):
        assert keys_of(data, split=[cut]) == [key], cut
    assert keys_of(data, split=list(range(1, len(data)))) == [key]  # one byte per read


def test_the_special_key_names_are_textuals():
    names = {v.value for v in Keys}
    for _data, key in SEQUENCES:
        assert key in names or key.rpartition("+")[2] in names or key.startswith("alt+"), key


def test_a_sequence_cut_by_a_pause_longer_than_the_delay_is_not_a_key():
    p, clock = parser()
    p.feed(b"\x1b[1;")
    clock.now += DELAY * 2
    assert p.tick() == []  # a broken sequence is dropped, never replayed as keys
    assert [m.key for m in p.feed(b"5Aq")] == ["5", "A", "q"]


def test_a_sequence_broken_by_a_new_escape_restarts_there():
    assert keys_of(b"\x1b[1\x1b[B") == ["down"]


def test_a_sequence_broken_by_a_control_key_keeps_the_key():
    assert keys_of(b"\x1b[1\r") == ["enter"]


# -- what is not a key ----------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"\x1b[99~",                       # an unknown key number
    b"\x1b[5;10R",                     # a cursor position report
    b"\x1b[?1;2c", b"\x1b[>41;354;0c",  # device attributes
    b"\x1b[?2048;2$y",                 # a mode report Textual's driver does not need from us
    b"\x1b[?1u",                       # the kitty protocol's flags
    b"\x1b]11;rgb:0000/0000/0000\x07",  # OSC colour reply ended by BEL
    b"\x1b]10;rgb:ffff/ffff/ffff\x1b\\",  # ... ended by ST
    b"\x1bP>|xterm(390)\x1b\\",        # DCS version reply
    b"\x1b_Gi=1;OK\x1b\\",             # APC (kitty graphics reply)
    b"\x1b[<0;10;5M", b"\x1b[<0;10;5m", b"\x1b[<64;3;4M",  # SGR mouse
    b"\x1b[M !!",                      # X10 mouse: ESC [ M and three bytes
    b"\x1b[32;10;5M",                  # urxvt mouse
    b"\x1b[57441u", b"\x1b[57428u",    # a modifier key alone, a media key (kitty)
    b"\x1b[97;1:3u", b"\x1b[1;1:3A",   # key releases (kitty)
    b"\x1b[" + b"1;" * 40 + b"A",      # longer than any sequence: garbage
])
def test_what_is_not_a_key_is_dropped_whole_and_the_next_key_comes(data):
    assert keys_of(data + b"q") == ["q"]
    for cut in range(1, len(data)):
        assert keys_of(data + b"q", split=[cut]) == ["q"], cut


def test_focus_reports_are_app_focus_and_blur():
    p, _ = parser()
    assert described(p.feed(b"\x1b[I\x1b[O")) == [("AppFocus", None), ("AppBlur", None)]


def test_a_synchronized_output_report_is_passed_on_when_the_mode_exists():
    p, _ = parser()
    (message,) = p.feed(b"\x1b[?2026;2$y")
    assert isinstance(message, TerminalSupportsSynchronizedOutput)
    assert p.feed(b"\x1b[?2026;0$y") == []  # 0: the terminal does not know the mode


# -- bracketed paste ------------------------------------------------------------------------
def test_a_bracketed_paste_is_one_paste_with_its_escapes_kept():
    p, _ = parser()
    got = p.feed(b"\x1b[200~hi \x1b[A th\xc3\xa9re\x1b[201~q")
    assert described(got) == [("paste", "hi \x1b[A thére"), ("key", "q")]


def test_a_paste_split_across_reads_at_every_byte():
    data = b"\x1b[200~a\x1bb\x1b[201~"
    for cut in range(1, len(data)):
        p, _ = parser()
        got = p.feed(data[:cut]) + p.feed(data[cut:])
        assert described(got) == [("paste", "a\x1bb")], cut


def test_a_paste_whose_end_never_comes_is_pasted_after_a_silence():
    p, clock = parser()
    assert p.feed(b"\x1b[200~lost") == []
    clock.now += 5
    assert described(p.tick()) == [("paste", "lost")]
    assert [m.key for m in p.feed(b"q")] == ["q"]


# -- the kitty keyboard protocol and modifyOtherKeys -----------------------------------------
@pytest.mark.parametrize("data,key,character", [
    (b"\x1b[97u", "a", "a"), (b"\x1b[97;;97u", "a", "a"), (b"\x1b[97;1:2u", "a", "a"),
    (b"\x1b[97;2;65u", "A", "A"), (b"\x1b[47;2;63u", "question_mark", "?"),
    (b"\x1b[97;5u", "ctrl+a", None), (b"\x1b[97;6u", "ctrl+shift+a", None),
    (b"\x1b[97;3u", "alt+a", None), (b"\x1b[97;2u", "shift+a", None),
    (b"\x1b[13u", "enter", "\r"), (b"\x1b[9u", "tab", "\t"), (b"\x1b[9;2u", "shift+tab", None),
    (b"\x1b[27u", "escape", "\x1b"), (b"\x1b[127u", "backspace", "\x7f"),
    (b"\x1b[32;;32u", "space", " "), (b"\x1b[57376u", "f13", None),
    (b"\x1b[57399;;48u", "0", "0"), (b"\x1b[1;5:1A", "ctrl+up", None),
    (b"\x1b[97;65u", "a", "a"),  # caps lock on: no modifier
    (b"\x1b[27;5;97~", "ctrl+a", None),  # xterm modifyOtherKeys
])
def test_kitty_protocol_keys(data, key, character):
    p, _ = parser()
    (message,) = p.feed(data)
    assert (message.key, message.character) == (key, character)


def test_character_key_names_like_textual():
    assert [character_key(c) for c in "a ?+-\t\x1b"] == [
        "a", "space", "question_mark", "plus", "minus", "tab", "escape"]


def test_the_parser_agrees_with_textuals_own_on_plain_keys():
    """Textual's xterm parser (private, so only this test looks at it) as the oracle for the
    key names of everything both understand."""
    xterm = pytest.importorskip("textual._xterm_parser")
    samples = [b"a", b"A", b"?", b"+", b" ", b"\r", b"\t", b"\x7f", b"\x01", b"\x1b[Z",
               *(data for data, _ in SEQUENCES if not data.startswith(b"\x1b[1;5P"))]
    for data in samples:
        theirs = [m.key for m in xterm.XTermParser().feed(data.decode())
                  if isinstance(m, events.Key)]
        assert keys_of(data, wait=False) == theirs, data
