"""The grammar of the guests' ``sh``: tokenizer, syntax tree and parser (see ``shell``).

``parse(text)`` turns a script into a ``Sequence`` of and-or lists of pipelines of commands
(simple commands, ``for`` loops, ``if`` clauses). Words keep their quoting as parts (``lit``
/ ``qlit`` literal text, ``var`` / ``qvar`` parameter expansions, ``cmd`` / ``qcmd`` command
substitutions, the ``q`` meaning double-quoted), so the interpreter expands and splits them
as a POSIX shell does. Anything outside the grammar is a ``ShellSyntaxError``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field


class ShellSyntaxError(Exception):
    """The script does not parse (the guest fails the command with status 2)."""


# ---------------------------------------------------------------------- syntax tree


@dataclass
class Word:
    parts: list[tuple[str, str]]  # (kind, value): lit | qlit | var | qvar | cmd | qcmd


@dataclass
class Redirect:
    fd: int
    op: str  # ">", ">>", ">&"
    target: Word


@dataclass
class Simple:
    assigns: list[tuple[str, Word]]
    words: list[Word]
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[Node]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]]


@dataclass
class Sequence:
    items: list[AndOr]


@dataclass
class For:
    var: str
    words: list[Word]
    body: Sequence


@dataclass
class If:
    branches: list[tuple[Sequence, Sequence]]
    otherwise: Sequence | None


Node = Simple | For | If


# ---------------------------------------------------------------------- tokenizer

_OPS = ("&&", "||", ";;", ">>", ">&", ";", "|", ">", "<", "(", ")", "&")
_KEYWORDS = {"for", "in", "do", "done", "if", "then", "elif", "else", "fi", "!"}


@dataclass
class Token:
    kind: str  # word | op | nl
    value: str = ""
    word: Word | None = None
    io_fd: int | None = None  # "2>": the number before a redirection operator


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t":
            i += 1
        elif c == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
        elif c == "\n":
            tokens.append(Token("nl"))
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c.isdigit() and _fd_redirect(text, i):
            j = i
            while text[j].isdigit():
                j += 1
            op = next(o for o in _OPS if text.startswith(o, j))
            tokens.append(Token("op", op, io_fd=int(text[i:j])))
            i = j + len(op)
        elif any(text.startswith(o, i) for o in _OPS):
            op = next(o for o in _OPS if text.startswith(o, i))
            tokens.append(Token("op", op))
            i += len(op)
        else:
            word, i = _read_word(text, i)
            tokens.append(Token("word", _literal(word), word=word))
    return tokens


def _fd_redirect(text: str, i: int) -> bool:
    j = i
    while j < len(text) and text[j].isdigit():
        j += 1
    starts_word = i == 0 or text[i - 1] in " \t\n;|&"
    return starts_word and j < len(text) and text[j] in "<>"


def _literal(word: Word) -> str:
    return "".join(v for k, v in word.parts if k in {"lit", "qlit"})


def _read_word(text: str, i: int) -> tuple[Word, int]:
    parts: list[tuple[str, str]] = []
    n = len(text)
    while i < n and text[i] not in " \t\n" and not any(text.startswith(o, i) for o in _OPS):
        c = text[i]
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated quoted string")
            parts.append(("qlit", text[i + 1 : end]))
            i = end + 1
        elif c == '"':
            i = _read_double(text, i + 1, parts)
        elif c == "\\" and i + 1 < n:
            parts.append(("lit", text[i + 1]))
            i += 2
        elif c == "$":
            i = _read_dollar(text, i, parts, quoted=False)
        else:
            parts.append(("lit", c))
            i += 1
    return Word(parts), i


def _read_double(text: str, i: int, parts: list[tuple[str, str]]) -> int:
    parts.append(("qlit", ""))  # an empty "" is still a word
    while True:
        if i >= len(text):
            raise ShellSyntaxError("unterminated quoted string")
        c = text[i]
        if c == '"':
            return i + 1
        if c == "\\" and i + 1 < len(text) and text[i + 1] in '"\\$`\n':
            parts.append(("qlit", text[i + 1]))
            i += 2
        elif c == "$":
            i = _read_dollar(text, i, parts, quoted=True)
        else:
            parts.append(("qlit", c))
            i += 1


def _read_dollar(text: str, i: int, parts: list[tuple[str, str]], *, quoted: bool) -> int:
    prefix = "q" if quoted else ""
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt == "(":
        depth, j = 1, i + 2
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        if depth:
            raise ShellSyntaxError("unterminated $( )")
        parts.append((prefix + "cmd", text[i + 2 : j - 1]))
        return j
    if nxt == "{":
        end = text.find("}", i)
        if end < 0:
            raise ShellSyntaxError("bad substitution")
        parts.append((prefix + "var", text[i + 2 : end]))
        return end + 1
    if nxt in "?#@*$!" and nxt:
        parts.append((prefix + "var", nxt))
        return i + 2
    j = i + 1
    while j < len(text) and (text[j].isalnum() or text[j] == "_"):
        j += 1
    if j == i + 1:
        parts.append((prefix + "lit" if quoted else "lit", "$"))
        return j
    parts.append((prefix + "var", text[i + 1 : j]))
    return j


# ---------------------------------------------------------------------- parser


class Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def is_word(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "word" and tok.value == value and _plain(tok)

    def is_op(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.value == value

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ShellSyntaxError("end of file unexpected")
        self.pos += 1
        return tok

    def expect_word(self, value: str) -> None:
        self.skip_newlines()
        if not self.is_word(value):
            tok = self.peek()
            found = tok.value if tok else "end of file"
            raise ShellSyntaxError(f"{found!r} unexpected (expecting {value!r})")
        self.pos += 1

    def skip_newlines(self) -> None:
        while self.peek() is not None and (self.peek() or Token("")).kind == "nl":
            self.pos += 1

    def sequence(self, stop: set[str]) -> Sequence:
        items: list[AndOr] = []
        while True:
            self.skip_newlines()
            while self.is_op(";"):
                self.pos += 1
                self.skip_newlines()
            tok = self.peek()
            if tok is None or (tok.kind == "word" and tok.value in stop and _plain(tok)):
                return Sequence(items)
            items.append(self.and_or())
            if self.peek() is not None and not (self.is_op(";") or self.peek_nl()):
                tok = self.peek()
                if not (tok and tok.kind == "word" and tok.value in stop):
                    raise ShellSyntaxError(f"{(tok.value if tok else '')!r} unexpected")

    def peek_nl(self) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "nl"

    def and_or(self) -> AndOr:
        first = self.pipeline()
        rest = []
        while self.is_op("&&") or self.is_op("||"):
            op = self.take().value
            self.skip_newlines()
            rest.append((op, self.pipeline()))
        return AndOr(first, rest)

    def pipeline(self) -> Pipeline:
        negate = False
        if self.is_word("!"):
            self.pos += 1
            negate = True
        commands = [self.command()]
        while self.is_op("|"):
            self.pos += 1
            self.skip_newlines()
            commands.append(self.command())
        return Pipeline(commands, negate)

    def command(self) -> Node:
        if self.is_word("for"):
            return self.for_loop()
        if self.is_word("if"):
            return self.if_clause()
        return self.simple()

    def for_loop(self) -> For:
        self.pos += 1
        name = self.take()
        if name.kind != "word" or not name.value.isidentifier():
            raise ShellSyntaxError(f"bad for loop variable {name.value!r}")
        words: list[Word] = []
        self.skip_newlines()
        if self.is_word("in"):
            self.pos += 1
            while self.peek() is not None and (self.peek() or Token("")).kind == "word":
                words.append(self.take().word or Word([]))
        if self.is_op(";"):
            self.pos += 1
        self.expect_word("do")
        body = self.sequence({"done"})
        self.expect_word("done")
        return For(name.value, words, body)

    def if_clause(self) -> If:
        self.pos += 1
        branches = []
        otherwise = None
        while True:
            cond = self.sequence({"then"})
            self.expect_word("then")
            body = self.sequence({"elif", "else", "fi"})
            branches.append((cond, body))
            if self.is_word("elif"):
                self.pos += 1
                continue
            if self.is_word("else"):
                self.pos += 1
                otherwise = self.sequence({"fi"})
            self.expect_word("fi")
            return If(branches, otherwise)

    def simple(self) -> Simple:
        node = Simple([], [])
        while True:
            tok = self.peek()
            if tok is None or tok.kind == "nl":
                break
            if tok.kind == "op":
                if tok.value not in {">", ">>", ">&", "<"}:
                    break
                self.pos += 1
                target = self.take()
                if target.kind != "word" or target.word is None:
                    raise ShellSyntaxError("missing redirection target")
                default_fd = 0 if tok.value == "<" else 1
                fd = tok.io_fd if tok.io_fd is not None else default_fd
                node.redirects.append(Redirect(fd, tok.value, target.word))
                continue
            self.pos += 1
            word = tok.word or Word([])
            if not node.words and _assignment(word):
                name, value = _split_assignment(word)
                node.assigns.append((name, value))
            else:
                node.words.append(word)
        if not node.words and not node.assigns and not node.redirects:
            tok = self.peek()
            raise ShellSyntaxError(f"{(tok.value if tok else 'end of file')!r} unexpected")
        return node


def _plain(tok: Token) -> bool:
    return tok.word is not None and all(k == "lit" for k, _ in tok.word.parts)


def _assignment(word: Word) -> bool:
    if not word.parts or word.parts[0][0] != "lit":
        return False
    head = ""
    for kind, value in word.parts:
        if kind != "lit":
            return False
        if value == "=":
            return head.isidentifier()
        head += value
    return False


def _split_assignment(word: Word) -> tuple[str, Word]:
    name = ""
    for index, (_, value) in enumerate(word.parts):
        if value == "=":
            return name, Word(word.parts[index + 1 :])
        name += value
    raise ShellSyntaxError("not an assignment")


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Sequence:
    """The syntax tree of ``text`` (cached: wait loops run the same script many times; the
    interpreter never changes a tree)."""
    parser = Parser(tokenize(text))
    seq = parser.sequence(set())
    if parser.peek() is not None:
        raise ShellSyntaxError(f"{parser.peek().value!r} unexpected")  # type: ignore[union-attr]
    return seq
