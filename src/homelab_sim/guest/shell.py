"""A small POSIX ``sh`` for simulated guests: enough grammar for what cloud-init runs.

It parses and runs the scripts the renderer puts in ``runcmd`` (and any script of the same
shape): simple commands with ``VAR=value`` assignments, single and double quotes, ``$var``,
``${var}``, ``$?`` and ``$(...)`` expansions (unquoted results are split into fields),
pipelines ``a | b``, lists with ``&&``, ``||``, ``;`` and newlines, ``for x in ...; do ...;
done``, ``if ...; then ...; elif ...; else ...; fi``, the redirections ``>file``, ``>>file``,
``>/dev/null``, ``2>&1``, ``>&2`` and ``2>/dev/null``, and the builtins ``exit``, ``break``,
``continue``, ``true``, ``false``, ``echo``, ``[``/``test`` (strings, integers, ``!`` and
the file tests ``-e``, ``-f``, ``-d``), ``seq`` and ``sleep``.

``sh`` itself (any path ending in ``/sh``) is dash's command line (``Shell.run_sh``):
``sh -c SCRIPT [NAME [ARG...]]``, ``sh FILE [ARG...]`` (a script in the guest's files, read
by the command table's ``sh``) and ``sh`` reading its script from stdin, with ``$0``, ``$1``...
``$#``. A command substitution runs in a copy of the caller's variables.

Anything else is an external command looked up in the guest's command table; a name the
table does not know fails with status 127 and ``sh: 1: NAME: not found``, as dash says it.

Execution is a generator that yields virtual seconds (every command costs ``STEP`` plus what
it models), so a guest can be suspended at any command and resumed later on the clock.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from homelab_sim.guest.shell_syntax import (
    AndOr,
    For,
    If,
    Node,
    Pipeline,
    Redirect,
    Sequence,
    ShellSyntaxError,
    Simple,
    Word,
    parse,
)

STEP = 0.05
Gen = Generator[float, None, int]
#: "f" for a file, "d" for a directory, None when nothing is at the path
FileKind = Callable[[str], str | None]


class Sink(Protocol):
    def write(self, text: str) -> None: ...


class NullSink:
    def write(self, text: str) -> None:
        return None


class BufferSink:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def value(self) -> str:
        return "".join(self.parts)


@dataclass
class Streams:
    """Where a command's stdout and stderr go."""

    out: Sink
    err: Sink


Command = Callable[[list[str], Streams, bytes], Gen]
FileWriter = Callable[[str, str, bool], bool]  # path, text, append -> written


# ---------------------------------------------------------------------- interpreter


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Loop(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


class Shell:
    """Runs scripts against a guest's command table; ``run_*`` are generators of seconds."""

    def __init__(
        self,
        lookup: Callable[[str], Command | None],
        write_file: FileWriter,
        file_kind: FileKind | None = None,
    ) -> None:
        self.lookup = lookup
        self.write_file = write_file
        self.file_kind: FileKind = file_kind or (lambda _path: None)

    def run_script(self, text: str, streams: Streams, env: dict[str, str] | None = None) -> Gen:
        """``sh -c TEXT``: the script's exit status (2 and a message for a syntax error)."""
        try:
            tree = parse(text)
        except ShellSyntaxError as exc:
            streams.err.write(f"sh: 1: Syntax error: {exc}\n")
            return 2
        scope = dict(env or {})
        scope.setdefault("?", "0")
        try:
            return (yield from self._sequence(tree, scope, streams, b""))
        except _Exit as done:
            return done.code
        except _Loop:
            return 0

    def run_sh(
        self,
        argv0: str,
        args: list[str],
        io: Streams,
        stdin: bytes,
        read_file: Callable[[str], bytes | None] | None = None,
    ) -> Gen:
        """dash's command line: ``sh -c SCRIPT [NAME [ARG...]]``, ``sh FILE [ARG...]`` (the
        script in the guest's files: ``read_file``, else the table's ``sh`` reads it) and
        ``sh`` (the script on stdin), with ``$0``, ``$1``... and ``$#``; no options."""
        if args[:1] == ["-c"]:
            if len(args) < 2:
                io.err.write(f"{argv0}: 0: -c requires an argument\n")
                return 2
            return (yield from self.run_script(args[1], io, _positional(args[2:] or [argv0])))
        if args[:1] == ["--"]:
            args = args[1:]
        elif args and args[0][:1] in {"-", "+"}:
            io.err.write(f"{argv0}: unsupported option {args[0]} in the simulated guest\n")
            return 2
        if not args:
            text = stdin.decode("utf-8", "replace")
            return (yield from self.run_script(text, io, _positional([argv0])))
        path = args[0]
        if not path.startswith("/"):
            io.err.write(
                f"{argv0}: relative script path {path!r}: the simulated guest has no working "
                "directory (give an absolute path)\n"
            )
            return 2
        kind = self.file_kind(path)
        if kind is None:
            io.err.write(f"{argv0}: 0: cannot open {path}: No such file\n")
            return 2
        if kind == "d":
            return 0  # dash reads nothing from a directory
        if read_file is None:
            command = self.lookup(argv0)
            if command is None:
                io.err.write(f"{argv0}: 0: cannot open {path}: no file system\n")
                return 2
            return (yield from command(args, io, stdin))
        text = (read_file(path) or b"").decode("utf-8", "replace")
        return (yield from self.run_script(text, io, _positional(args)))

    def run_argv(self, argv: list[str], streams: Streams, stdin: bytes = b"") -> Gen:
        """Execute ``argv`` directly (no shell), as cloud-init runs a list entry of runcmd."""
        return (yield from self._exec(argv, streams, stdin, {"?": "0"}))

    def _sequence(self, seq: Sequence, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        status = 0
        for item in seq.items:
            status = yield from self._and_or(item, scope, io, stdin)
            scope["?"] = str(status)
        return status

    def _and_or(self, node: AndOr, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        status = yield from self._pipeline(node.first, scope, io, stdin)
        for op, pipe in node.rest:
            if (op == "&&") == (status == 0):
                status = yield from self._pipeline(pipe, scope, io, stdin)
        return status

    def _pipeline(self, pipe: Pipeline, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        data = stdin
        status = 0
        for index, node in enumerate(pipe.commands):
            last = index == len(pipe.commands) - 1
            out = io if last else Streams(BufferSink(), io.err)
            status = yield from self._node(node, scope, out, data)
            if not last:
                data = out.out.value().encode() if isinstance(out.out, BufferSink) else b""
        if pipe.negate:
            status = 0 if status else 1
        return status

    def _node(self, node: Node, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        if isinstance(node, For):
            return (yield from self._for(node, scope, io, stdin))
        if isinstance(node, If):
            for cond, body in node.branches:
                if (yield from self._sequence(cond, scope, io, stdin)) == 0:
                    return (yield from self._sequence(body, scope, io, stdin))
            if node.otherwise is not None:
                return (yield from self._sequence(node.otherwise, scope, io, stdin))
            return 0
        return (yield from self._simple(node, scope, io, stdin))

    def _for(self, node: For, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        items: list[str] = []
        for word in node.words:
            items += yield from self._expand(word, scope, io)
        status = 0
        for item in items:
            scope[node.var] = item
            try:
                status = yield from self._sequence(node.body, scope, io, stdin)
            except _Loop as loop:
                if loop.kind == "break":
                    break
        return status

    def _simple(self, node: Simple, scope: dict[str, str], io: Streams, stdin: bytes) -> Gen:
        yield STEP
        argv: list[str] = []
        for word in node.words:
            argv += yield from self._expand(word, scope, io)
        values = {}
        for name, value in node.assigns:
            values[name] = " ".join((yield from self._expand(value, scope, io, split=False)))
        if not argv:
            scope.update(values)
            return 0
        streams = Streams(io.out, io.err)
        for redirect in node.redirects:
            target = " ".join((yield from self._expand(redirect.target, scope, io, split=False)))
            streams = self._redirect(streams, redirect, target)
        return (yield from self._exec(argv, streams, stdin, scope))

    def _redirect(self, streams: Streams, redirect: Redirect, target: str) -> Streams:
        if redirect.op == ">&":
            source = streams.err if target == "2" else streams.out
            return _with_fd(streams, redirect.fd, source)
        if redirect.op == "<":
            return streams
        if target == "/dev/null":
            return _with_fd(streams, redirect.fd, NullSink())
        return _with_fd(streams, redirect.fd, _FileSink(self.write_file, target, redirect.op))

    def _exec(self, argv: list[str], io: Streams, stdin: bytes, scope: dict[str, str]) -> Gen:
        name, args = argv[0], argv[1:]
        if name == "exit":
            raise _Exit(int(args[0]) if args else int(scope.get("?", "0")))
        if name in {"break", "continue"}:
            raise _Loop(name)
        if name in ("[", "test"):
            return (yield from _test(args, io, self.file_kind))
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return (yield from builtin(args, io, stdin))
        if posixpath.basename(name) == "sh":
            return (yield from self.run_sh(name, args, io, stdin))
        if name == "env":
            while args and "=" in args[0] and args[0].split("=", 1)[0].isidentifier():
                args = args[1:]
            if not args:
                return 0
            return (yield from self._exec(args, io, stdin, scope))
        command = self.lookup(name)
        if command is None:
            io.err.write(f"sh: 1: {name}: not found\n")
            return 127
        status = yield from command(args, io, stdin)
        if isinstance(io.out, _FileSink):
            io.out.flush()
        return status

    def _expand(
        self, word: Word, scope: dict[str, str], io: Streams, *, split: bool = True
    ) -> Generator[float, None, list[str]]:
        fields: list[str] = []
        current: str | None = None
        params = [scope.get(str(i), "") for i in range(1, int(scope.get("#", "0") or 0) + 1)]
        alone = {("qlit", ""), ("qvar", "@")}  # "$@" and nothing else
        if split and not params and ("qvar", "@") in word.parts and set(word.parts) <= alone:
            return []  # "$@" without parameters is no field at all, not an empty one
        for kind, value in word.parts:
            if kind in {"lit", "qlit"}:
                current = (current or "") + value
                continue
            if (kind, value) == ("qvar", "@") and split and params:
                # "$@": each parameter its own field, the first and last joined to what
                # surrounds them
                current = (current or "") + params[0]
                for param in params[1:]:
                    fields.append(current)
                    current = param
                continue
            if kind.endswith("cmd"):
                capture = BufferSink()
                yield from self.run_script(value, Streams(capture, io.err), scope)
                text = capture.value().rstrip("\n")
            else:
                text = scope.get(value, "")
            if kind.startswith("q") or not split:
                current = (current or "") + text
                continue
            pieces = text.split()
            if not pieces:
                continue
            current = (current or "") + pieces[0]
            for piece in pieces[1:]:
                fields.append(current)
                current = piece
        if current is not None:
            fields.append(current)
        return fields


class _FileSink:
    """``> file`` / ``>> file``: collects the output and writes it into the guest's file."""

    def __init__(self, write_file: FileWriter, path: str, op: str) -> None:
        self.write_file = write_file
        self.path = path
        self.append = op == ">>"
        self.buffer = BufferSink()

    def write(self, text: str) -> None:
        self.buffer.write(text)

    def flush(self) -> None:
        self.write_file(self.path, self.buffer.value(), self.append)
        self.append = True
        self.buffer = BufferSink()


def _positional(argv: list[str]) -> dict[str, str]:
    """``$0`` (``argv[0]``), ``$1``... and ``$#``; ``$@`` and ``$*`` as one string (``"$@"``
    is expanded from the numbered ones, a field each: ``Shell._expand``)."""
    scope = {str(index): value for index, value in enumerate(argv)}
    scope["#"] = str(len(argv) - 1)
    scope["@"] = scope["*"] = " ".join(argv[1:])
    return scope


def _with_fd(streams: Streams, fd: int, sink: Sink) -> Streams:
    if fd == 2:
        return Streams(streams.out, sink)
    return Streams(sink, streams.err)


# ---------------------------------------------------------------------- builtins


def _true(args: list[str], io: Streams, stdin: bytes) -> Gen:
    return 0
    yield 0.0  # pragma: no cover - makes this a generator


def _false(args: list[str], io: Streams, stdin: bytes) -> Gen:
    return 1
    yield 0.0  # pragma: no cover


def _echo(args: list[str], io: Streams, stdin: bytes) -> Gen:
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    io.out.write(" ".join(args) + ("\n" if newline else ""))
    return 0
    yield 0.0  # pragma: no cover


def _seq(args: list[str], io: Streams, stdin: bytes) -> Gen:
    try:
        bounds = [int(a) for a in args]
    except ValueError:
        io.err.write(f"seq: invalid argument: {' '.join(args)!r}\n")
        return 1
    first, last = (1, bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[-1])
    io.out.write("".join(f"{i}\n" for i in range(first, last + 1)))
    return 0
    yield 0.0  # pragma: no cover


def _sleep(args: list[str], io: Streams, stdin: bytes) -> Gen:
    try:
        seconds = sum(float(a.rstrip("s")) for a in args)
    except ValueError:
        io.err.write(f"sleep: invalid time interval '{' '.join(args)}'\n")
        return 1
    yield seconds
    return 0


def _test(args: list[str], io: Streams, file_kind: FileKind) -> Gen:
    if args and args[-1] == "]":
        args = args[:-1]
    result = _evaluate_test(args, file_kind)
    if result is None:
        io.err.write(f"sh: 1: [: unexpected operator in {' '.join(args)!r}\n")
        return 2
    return 0 if result else 1
    yield 0.0  # pragma: no cover


def _evaluate_test(args: list[str], file_kind: FileKind) -> bool | None:
    if args[:1] == ["!"]:
        inner = _evaluate_test(args[1:], file_kind)
        return None if inner is None else not inner
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2 and args[0] in {"-n", "-z"}:
        return (args[1] != "") == (args[0] == "-n")
    if len(args) == 2 and args[0] in {"-e", "-f", "-d"}:
        kind = file_kind(args[1])
        return kind is not None and (args[0] == "-e" or kind == args[0][1])
    if len(args) == 3:
        left, op, right = args
        if op in {"=", "=="}:
            return left == right
        if op == "!=":
            return left != right
        numeric = {"-eq": 0, "-ne": 1, "-lt": 2, "-le": 3, "-gt": 4, "-ge": 5}
        if op in numeric:
            try:
                a, b = int(left), int(right)
            except ValueError:
                return None
            return [a == b, a != b, a < b, a <= b, a > b, a >= b][numeric[op]]
    return None


_BUILTINS: dict[str, Command] = {
    "true": _true,
    ":": _true,
    "false": _false,
    "echo": _echo,
    "seq": _seq,
    "sleep": _sleep,
}
