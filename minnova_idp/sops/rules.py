"""Which values a sops file encrypts: its suffix and regex rules, with the regexes matched as Go matches them.

sops decides per key with Go's `regexp.Match(pattern, key)` (getsops/sops@v3.10.2 sops.go:457
unencrypted_regex, :467 encrypted_regex; :478/:499/:556 the comment regexes, which we refuse
outright): RE2, which runs in time linear in the key and cannot backtrack. Python's `re` backtracks,
so `^(a+)+$` against a 40-character key read from an app's secrets file never finishes, and a
pull request could hang every deploy with one line. So the regexes are not given to `re` at all:
`GoRegexp` parses the RE2 syntax subset below and matches it by simulating its automaton
(Thompson's construction: every key character is looked at once per automaton state), with Go's
meaning, and with a bounded automaton size and a bounded number of steps per file.

Supported, with Go's meaning (regexp/syntax, Perl flags, as regexp.Compile uses): literals and
escaped punctuation; `\\a \\f \\t \\n \\r \\v \\xHH \\x{H…}`; `.` (not newline unless (?s));
classes `[...]`/`[^...]` with ranges and `\\d \\w \\s` (negated classes match newline, Go's
ClassNL); `\\d \\D \\w \\W \\s \\S \\b \\B` ASCII-only as in Go (`\\s` is `[\\t\\n\\f\\r ]`);
`^ $` at the start/end of the text only (Go's OneLine: `$` does not match before a final newline,
unlike Python's), or of a line with (?m); `\\A \\z`; groups `(...)`, `(?:...)`, `(?P<n>...)`,
`(?<n>...)`; flags `(?imsU-imsU)` and `(?flags:...)`; `| * + ? {n} {n,} {n,m}` with an optional
lazy `?` (which cannot change whether a key matches); `{` that does not start a repeat is literal.
Go refuses counts over 1000 and nested operators like `a**`; so do we. Refused as outside the
subset (a clear error, never a guess): `\\p{..}`, `\\Q...\\E`, octal escapes, `[[:alpha:]]`,
`\\C`; Python-only syntax (backreferences, lookaround, atomic groups, possessive quantifiers)
is not RE2 and is refused as Go would refuse it. (?i) folds case as Python's lower()/upper()
do, which matches Go's simple folding except for a few characters such as the Kelvin sign.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

MAX_REPEAT = 1000  # Go's regexp/syntax limit on a repeat count
MAX_PROGRAM = 5000  # automaton states; larger expressions are refused (ours, not Go's limit)
MAX_STEPS = 5_000_000  # state visits per Rules (one file); bounds the worst case to seconds

_DIGIT = frozenset("0123456789")
_WORD = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_SPACE = frozenset("\t\n\f\r ")
_SIMPLE_ESCAPES = {"a": "\a", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
_CLASS_ESCAPES = {"d": (_DIGIT, False), "D": (_DIGIT, True), "w": (_WORD, False), "W": (_WORD, True),
                  "s": (_SPACE, False), "S": (_SPACE, True)}


class RegexRefused(Exception):
    """A pattern Go would refuse, or one outside the subset we match; the message says which."""


# --- parsing: pattern text -> tree ---------------------------------------------------------------
# Tree nodes are tuples: ("char", predicate), ("assert", kind), ("cat", [nodes]), ("alt", [nodes]),
# ("repeat", node, min, max|None), ("empty",).


def _char_predicate(items: list[tuple[str, str] | tuple[frozenset[str], bool]], negated: bool,
                    fold: bool) -> Callable[[str], bool]:
    def base(ch: str) -> bool:
        for item in items:
            if isinstance(item[0], frozenset):
                if (ch in item[0]) != item[1]:
                    return True
            elif item[0] <= ch <= item[1]:
                return True
        return False

    def predicate(ch: str) -> bool:
        hit = base(ch) or (fold and (base(ch.lower()) or base(ch.upper())))
        return hit != negated

    return predicate


class _Parser:
    def __init__(self, pattern: str):
        self.text = pattern
        self.pos = 0

    def refuse(self, message: str) -> RegexRefused:
        return RegexRefused(f"{message} (at character {self.pos + 1})")

    def peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def parse(self) -> tuple:
        node = self.alternation({"i": False, "m": False, "s": False})
        if self.pos < len(self.text):  # only a stray ")" stops the top level early
            raise self.refuse("unexpected )")
        return node

    def alternation(self, flags: dict[str, bool]) -> tuple:
        branches = [self.concatenation(flags)]
        while self.peek() == "|":
            self.pos += 1
            branches.append(self.concatenation(flags))
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concatenation(self, flags: dict[str, bool]) -> tuple:
        items: list[tuple] = []
        while self.pos < len(self.text) and self.peek() not in "|)":
            if self.peek() == "(" and self.peek(1) == "?" and self._flag_group(flags):
                continue  # (?i) changes the flags for the rest of this group
            atom = self.atom(flags)
            items.append(self.quantified(atom))
        return ("cat", items) if items else ("empty",)

    def _flag_group(self, flags: dict[str, bool]) -> bool:
        """`(?flags)`: sets flags and returns True; `(?flags:` and other groups are left to atom()."""
        end = self.pos + 2
        while end < len(self.text) and self.text[end] in "imsU-":
            end += 1
        if end >= len(self.text) or self.text[end] != ")" or end == self.pos + 2:
            return False
        self._apply_flags(self.text[self.pos + 2:end], flags)
        self.pos = end + 1
        return True

    def _apply_flags(self, spec: str, flags: dict[str, bool]) -> None:
        value = True
        if spec.count("-") > 1 or spec.endswith("-"):
            raise self.refuse("invalid flags")
        for letter in spec:
            if letter == "-":
                value = False
            elif letter != "U":  # ungreedy: cannot change whether a key matches
                flags[letter] = value

    def quantified(self, atom: tuple) -> tuple:
        repeat = self._repeat_spec()
        if repeat is None:
            return atom
        if atom[0] == "empty":
            raise self.refuse("missing argument to repetition operator")
        if self.peek() == "?":
            self.pos += 1  # lazy: same set of matching keys
        if self._repeat_spec(consume=False) is not None:
            raise self.refuse("invalid nested repetition operator")  # Go: `a**`, `a+*`, `a*?+`
        low, high = repeat
        return ("repeat", atom, low, high)

    def _repeat_spec(self, consume: bool = True) -> tuple[int, int | None] | None:
        ch = self.peek()
        spec: tuple[int, int | None] | None = None
        length = 1
        if ch == "*":
            spec = (0, None)
        elif ch == "+":
            spec = (1, None)
        elif ch == "?":
            spec = (0, 1)
        elif ch == "{":
            close = self.text.find("}", self.pos)
            body = self.text[self.pos + 1:close] if close > 0 else ""
            low, comma, high = body.partition(",")
            if close > 0 and low.isdigit() and low.isascii() and (not high or (high.isdigit() and high.isascii())):
                length = close - self.pos + 1
                spec = (int(low[:5]), None if comma and not high else int(high[:5]) if high else int(low[:5]))
                if max(len(low), len(high)) > 4 or spec[0] > MAX_REPEAT or (spec[1] or 0) > MAX_REPEAT:
                    raise self.refuse(f"invalid repeat count (Go allows at most {MAX_REPEAT})")
                if spec[1] is not None and spec[1] < spec[0]:
                    raise self.refuse("invalid repeat count")
        if spec is not None and consume:
            self.pos += length
        return spec

    def atom(self, flags: dict[str, bool]) -> tuple:
        ch = self.peek()
        if ch in ("*", "+", "?") or (ch == "{" and self._repeat_spec(consume=False) is not None):
            raise self.refuse("missing argument to repetition operator")
        self.pos += 1
        if ch == "(":
            return self._group(flags)
        if ch == "[":
            return self._class(flags)
        if ch == ".":
            return ("char", (lambda c: True) if flags["s"] else (lambda c: c != "\n"))
        if ch == "^":
            return ("assert", "line_start" if flags["m"] else "text_start")
        if ch == "$":
            return ("assert", "line_end" if flags["m"] else "text_end")
        if ch == "\\":
            return self._escape(flags)
        return self._literal(ch, flags)

    def _literal(self, ch: str, flags: dict[str, bool]) -> tuple:
        return ("char", _char_predicate([(ch, ch)], False, flags["i"]))

    def _group(self, flags: dict[str, bool]) -> tuple:
        inner = dict(flags)
        if self.peek() == "?":
            rest = self.text[self.pos + 1:]
            if rest.startswith(("<=", "<!")):
                raise self.refuse("unsupported group: Go's regexp has no lookbehind")
            if rest.startswith(("P<", "<")):
                start = self.pos + (3 if rest.startswith("P<") else 2)
                close = self.text.find(">", start)
                name = self.text[start:close] if close > 0 else ""
                if not name or not all(c in _WORD for c in name):
                    raise self.refuse("invalid named capture")
                self.pos = close + 1
            else:
                end = self.pos + 1
                while end < len(self.text) and self.text[end] in "imsU-":
                    end += 1
                if end >= len(self.text) or self.text[end] != ":":
                    # (?=, (?!, (?<=, (?>, (?#, (?P=name): Python-only; Go refuses them.
                    raise self.refuse("unsupported group: Go's regexp has no lookaround, atomic groups, "
                                      "backreferences or comments")
                self._apply_flags(self.text[self.pos + 1:end], inner)
                self.pos = end + 1
        node = self.alternation(inner)
        if self.peek() != ")":
            raise self.refuse("missing closing )")
        self.pos += 1
        return node

    def _escape(self, flags: dict[str, bool]) -> tuple:
        ch = self.peek()
        if not ch:
            raise self.refuse("trailing backslash at end of expression")
        self.pos += 1
        if ch in _CLASS_ESCAPES:
            chars, negated = _CLASS_ESCAPES[ch]
            return ("char", _char_predicate([(chars, False)], negated, False))
        if ch in "bB":
            return ("assert", "word_boundary" if ch == "b" else "not_word_boundary")
        if ch == "A":
            return ("assert", "text_start")
        if ch == "z":
            return ("assert", "text_end")
        return self._literal(self._escaped_char(ch), flags)

    def _escaped_char(self, ch: str) -> str:
        """The character an escape other than a class or assertion stands for (after the backslash)."""
        if ch in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[ch]
        if ch == "x":
            if self.peek() == "{":
                close = self.text.find("}", self.pos)
                digits = self.text[self.pos + 1:close] if close > 0 else ""
                self.pos = close + 1 if close > 0 else self.pos
            else:
                digits = self.text[self.pos:self.pos + 2]
                self.pos += 2
            if not digits or len(digits) > 8 or not all(c in "0123456789abcdefABCDEF" for c in digits) \
                    or int(digits, 16) > 0x10FFFF:
                raise self.refuse("invalid escape sequence")
            return chr(int(digits, 16))
        if ch.isascii() and not ch.isalnum():
            return ch  # escaped punctuation is itself
        # \p{..}, \Q..\E, octal, \C, or a letter Go does not know (e.g. \Z): refused.
        raise self.refuse(f"escape \\{ch} is not supported")

    def _class(self, flags: dict[str, bool]) -> tuple:
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        items: list = []
        first = True
        while True:
            ch = self.peek()
            if not ch:
                raise self.refuse("missing closing ]")
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if ch == "[" and self.peek(1) == ":":
                raise self.refuse("POSIX classes like [[:alpha:]] are not supported")
            self.pos += 1
            if ch == "\\":
                escaped = self.peek()
                if escaped in _CLASS_ESCAPES:
                    self.pos += 1
                    chars, negative = _CLASS_ESCAPES[escaped]
                    items.append((chars, negative))
                    continue
                if not escaped:
                    raise self.refuse("missing closing ]")
                self.pos += 1
                ch = self._escaped_char(escaped)
            low = ch
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.pos += 1
                high = self.peek()
                self.pos += 1
                if high == "\\":
                    escaped = self.peek()
                    self.pos += 1
                    if escaped in _CLASS_ESCAPES:
                        raise self.refuse("invalid character class range")
                    high = self._escaped_char(escaped)
                if high < low:
                    raise self.refuse("invalid character class range")
                items.append((low, high))
            else:
                items.append((low, low))
        return ("char", _char_predicate(items, negated, flags["i"]))


# --- compiling: tree -> automaton ----------------------------------------------------------------
# Instructions: ("char", predicate, next), ("split", a, b), ("assert", kind, next), ("match",).


class _Compiler:
    def __init__(self) -> None:
        self.program: list[list] = []

    def emit(self, instruction: list) -> int:
        if len(self.program) >= MAX_PROGRAM:
            raise RegexRefused(f"the expression is too large (more than {MAX_PROGRAM} states once repeats are "
                               "expanded)")
        self.program.append(instruction)
        return len(self.program) - 1

    def compile(self, node: tuple, next_state: int) -> int:
        """States for `node` that continue to `next_state`; returns its entry state (built back to front)."""
        kind = node[0]
        if kind == "empty":
            return next_state
        if kind == "char":
            return self.emit(["char", node[1], next_state])
        if kind == "assert":
            return self.emit(["assert", node[1], next_state])
        if kind == "cat":
            for item in reversed(node[1]):
                next_state = self.compile(item, next_state)
            return next_state
        if kind == "alt":
            entries = [self.compile(branch, next_state) for branch in node[1]]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self.emit(["split", other, entry])
            return entry
        _, inner, low, high = node
        if high is None:  # inner{low,}: low copies then a loop
            loop = self.emit(["split", -1, next_state])
            self.program[loop][1] = self.compile(inner, loop)
            next_state = loop
        else:
            for _ in range(high - low):  # optional copies, nested: (x(x)?)?
                next_state = self.emit(["split", self.compile(inner, next_state), next_state])
        for _ in range(low):
            next_state = self.compile(inner, next_state)
        return next_state


def _is_word(text: str, index: int) -> bool:
    return 0 <= index < len(text) and text[index] in _WORD


def _assertion_holds(kind: str, text: str, at: int) -> bool:
    if kind == "text_start":
        return at == 0
    if kind == "text_end":
        return at == len(text)
    if kind == "line_start":
        return at == 0 or text[at - 1] == "\n"
    if kind == "line_end":
        return at == len(text) or text[at] == "\n"
    boundary = _is_word(text, at - 1) != _is_word(text, at)
    return boundary if kind == "word_boundary" else not boundary


@dataclass
class GoRegexp:
    """One sops rule regex: parsed and compiled once, matched as Go's regexp.Match does (unanchored)."""

    pattern: str
    _program: list[list] = field(init=False, repr=False)
    _start: int = field(init=False, repr=False)
    _cache: dict[str, bool] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        tree = _Parser(self.pattern).parse()
        compiler = _Compiler()
        final = compiler.emit(["match"])
        self._start = compiler.compile(tree, final)
        self._program = compiler.program

    def search(self, text: str, budget: list[int]) -> bool:
        """Whether the expression matches anywhere in `text`; each state visit takes one from budget[0]."""
        if text not in self._cache:
            self._cache[text] = self._search(text, budget)
        return self._cache[text]

    def _search(self, text: str, budget: list[int]) -> bool:
        program = self._program
        current: list[int] = []
        for at in range(len(text) + 1):
            current = self._closure([*current, self._start], text, at, budget)  # a new start at every position
            if any(program[state][0] == "match" for state in current):
                return True
            if at == len(text):
                return False
            ch = text[at]
            current = [program[state][2] for state in current
                       if program[state][0] == "char" and program[state][1](ch)]
        return False

    def _closure(self, states: list[int], text: str, at: int, budget: list[int]) -> list[int]:
        program = self._program
        seen: set[int] = set()
        out: list[int] = []
        stack = list(reversed(states))
        while stack:
            state = stack.pop()
            if state in seen:
                continue
            seen.add(state)
            budget[0] -= 1
            if budget[0] < 0:
                raise RegexRefused(f"matching the file's keys against it needs more than {MAX_STEPS} steps "
                                   "(too many or too long keys for this expression)")
            instruction = program[state]
            if instruction[0] == "split":
                stack += (instruction[2], instruction[1])
            elif instruction[0] == "assert":
                if _assertion_holds(instruction[1], text, at):
                    stack.append(instruction[2])
            else:
                out.append(state)
        return out


@dataclass(frozen=True)
class Rules:
    """Which values are encrypted; a key matching a rule applies to everything below it (sops.go)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: str = ""
    encrypted_regex: str = ""
    _compiled: dict[str, GoRegexp] = field(init=False, repr=False, compare=False, default_factory=dict)
    _budget: list[int] = field(init=False, repr=False, compare=False, default_factory=lambda: [MAX_STEPS])

    def __post_init__(self) -> None:
        # Compiled up front: a refused pattern fails here, naming its field, before any value is read.
        for name in ("unencrypted_regex", "encrypted_regex"):
            pattern = getattr(self, name)
            if pattern:
                try:
                    self._compiled[name] = GoRegexp(pattern)
                except RegexRefused as exc:
                    raise RegexRefused(f"sops.{name}: {exc}") from None

    def _matches(self, name: str, keys: Sequence[str]) -> bool:
        try:
            return any(self._compiled[name].search(key, self._budget) for key in keys)
        except RegexRefused as exc:
            raise RegexRefused(f"sops.{name}: {exc}") from None

    def encrypts(self, keys: Sequence[str]) -> bool:
        encrypted = True
        if self.unencrypted_suffix and any(k.endswith(self.unencrypted_suffix) for k in keys):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(k.endswith(self.encrypted_suffix) for k in keys)
        # Go's regexp.Match finds a match anywhere in the key (sops.go:457, :467).
        if self.unencrypted_regex and self._matches("unencrypted_regex", keys):
            encrypted = False
        if self.encrypted_regex:
            encrypted = self._matches("encrypted_regex", keys)
        return encrypted
