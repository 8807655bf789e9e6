"""The subset of expr-lang (github.com/expr-lang/expr v1.17.8: argo-cd v3.4.4 go.mod:32 pins it for the
notifications controller) that the notification triggers use, evaluated as notifications-engine runs them
(pkg/triggers/service.go:88-101): member access on maps (`a.b`, a missing key is nil, a member of nil is an
error unless written `?.`), `??`, `==`, `!=`, `in [..]`, `and`, `or`, `not`/`!`, string and nil literals,
lists, and `any(list, {predicate on .field})`. Anything else is refused, so a trigger that grows past this model
fails its test instead of being misread."""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<op>\?\?|\?\.|==|!=|[!()\[\]{},.+])|(?P<name>[A-Za-z_]\w*))")


class ExprError(Exception):
    pass


def tokens(text: str) -> list[str]:
    out, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match:
            raise ExprError(f"cannot read {text[position:]!r}")
        out.append(match.group(match.lastgroup))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str, env: dict[str, Any]):
        self.tokens, self.i, self.env = tokens(text), 0, env

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ExprError(f"expected {expected!r}, found {token!r}")
        self.i += 1
        return token

    # Each level returns a thunk, so `and`/`or`/`??` short-circuit as expr does and `any` can rebind the dot.
    def parse(self):
        node = self.or_()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()!r}")
        return node

    def or_(self):
        node = self.and_()
        while self.peek() == "or":
            self.take()
            left, right = node, self.and_()
            node = lambda dot, l=left, r=right: bool(l(dot)) or bool(r(dot))  # noqa: E731
        return node

    def and_(self):
        node = self.not_()
        while self.peek() == "and":
            self.take()
            left, right = node, self.not_()
            node = lambda dot, l=left, r=right: bool(l(dot)) and bool(r(dot))  # noqa: E731
        return node

    def not_(self):
        if self.peek() in ("not", "!"):
            self.take()
            inner = self.not_()
            return lambda dot: not inner(dot)
        return self.compare()

    # Precedence as expr v1.17.8 parser/operator/operator.go:41-64: and 15 < == != in 20 < + 30 < ?? 500.
    def compare(self):
        left = self.add()
        if self.peek() in ("==", "!=", "in"):
            op, right = self.take(), self.add()
            if op == "==":
                return lambda dot: left(dot) == right(dot)
            if op == "!=":
                return lambda dot: left(dot) != right(dot)
            return lambda dot: left(dot) in right(dot)
        return left

    def add(self):
        node = self.coalesce()
        while self.peek() == "+":
            self.take()
            left, right = node, self.coalesce()
            node = lambda dot, l=left, r=right: self._concat(l(dot), r(dot))  # noqa: E731
        return node

    @staticmethod
    def _concat(left, right):
        if not (isinstance(left, str) and isinstance(right, str)):  # expr: invalid operation: string + <nil>
            raise ExprError(f"invalid operation: {type(left).__name__} + {type(right).__name__}")
        return left + right

    def coalesce(self):
        node = self.member()
        while self.peek() == "??":
            self.take()
            left, right = node, self.member()
            node = lambda dot, l=left, r=right: (lambda v: r(dot) if v is None else v)(l(dot))  # noqa: E731
        return node

    def member(self):
        node = self.primary()
        while self.peek() in (".", "?."):
            optional, name = self.take() == "?.", self.take()
            node = self._field(node, name, optional)
        return node

    @staticmethod
    def _field(base, name: str, optional: bool):
        def get(dot):
            value = base(dot)
            if value is None:
                if optional:
                    return None
                raise ExprError(f"cannot fetch {name} from <nil>")
            if not isinstance(value, dict):
                raise ExprError(f"cannot fetch {name} from {type(value).__name__}")
            return value.get(name)
        return get

    def primary(self):
        token = self.take()
        if token.startswith("'"):
            return lambda dot, value=token[1:-1]: value
        if token == "nil":
            return lambda dot: None
        if token in ("true", "false"):
            return lambda dot, value=token == "true": value
        if token == "(":
            node = self.or_()
            self.take(")")
            return node
        if token == "[":
            items = []
            while self.peek() != "]":
                items.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take("]")
            return lambda dot: [item(dot) for item in items]
        if token == "any":
            self.take("(")
            collection = self.or_()
            self.take(",")
            self.take("{")
            predicate = self.or_()
            self.take("}")
            self.take(")")
            return lambda dot: any(bool(predicate(item)) for item in collection(dot))
        if token == ".":  # the element inside any(..., {...})
            name = self.take()
            return self._field(lambda dot: dot, name, False)
        if re.fullmatch(r"[A-Za-z_]\w*", token) and token not in ("and", "or", "in", "not"):
            return lambda dot, name=token: self.env[name]
        raise ExprError(f"unexpected {token!r}")


def evaluate(text: str, env: dict[str, Any]) -> Any:
    """`text` run against `env`; raises ExprError where expr would fail at run time or the model has no rule."""
    return _Parser(text, env).parse()(None)


def once_per(text: str, env: dict[str, Any]) -> str:
    """The oncePer key as notifications-engine stores it: fmt.Sprintf("%v", value)."""
    value = evaluate(text, env)
    return "<nil>" if value is None else str(value)
