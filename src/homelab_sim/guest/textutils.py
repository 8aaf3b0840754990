"""Text commands of a simulated guest: date, ls, basename, grep, and ``sh FILE``.

``TextUtils(table, now)`` implements them over the table's ``GuestSystem`` and the guest's
virtual clock (``now``: epoch seconds), as Ubuntu 24.04 runs them in its default locale
C.UTF-8 (GNU coreutils 9.4, GNU grep 3.11, dash): the same output, exit statuses and
messages, quotes included (date's ``invalid date`` quotes in U+2018/U+2019 as in any UTF-8
locale, ls's ``cannot access 'x'`` in shell quotes).

What each one models:

- ``date [-u] [-d @EPOCH] [+FORMAT]``: the conversions of GNU's strftime (numbers with the
  ``-``, ``_``, ``0`` flags and a width, names with ``^``), the default format, ``@EPOCH``
  dates (with a fraction) in the years 1000 to 9999, the guest's clock otherwise;
- ``ls [-1 -a -A -r] PATH...``: names in byte order (C.UTF-8), operands files first, then
  directories with ``DIR:`` headers when there are several operands;
- ``basename NAME [SUFFIX]`` and ``basename -a|-s SUFFIX|-z NAME...``;
- ``grep [-q -x -F -E -G -c -v -s -h -H -e PATTERN] PATTERNS [FILE...]``: basic (default),
  extended and fixed patterns, translated to Python's ``re``;
- ``sh FILE [ARG...]``: the script in the guest's file system, run by the guest's ``Shell``
  (see ``Shell.run_sh``).

Anything else, an option GNU knows but the model does not, a back-reference, a ``-d``
date other than ``@EPOCH``, a relative path (the guest has no working directory), fails
with a message saying so and a non-zero status: never a silently different result.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from homelab_sim.guest.shell import Command, Gen, Shell, Streams
from homelab_sim.guest.system import GuestSystem

STEP = 0.02  # virtual seconds a text command takes
NOT_FOUND = "No such file or directory"
NOT_DIR = "Not a directory"
NOT_MODELLED = "not modelled in the simulated guest"


class Table(Protocol):
    """What ``sh FILE`` needs of the command table: its files and its other commands."""

    system: GuestSystem

    def lookup(self, name: str) -> Command | None: ...

    def write_file(self, path: str, text: str, append: bool) -> bool: ...

    def file_kind(self, path: str) -> str | None: ...


class Unsupported(Exception):
    """Something the simulated command does not model: the message says what."""


# ---------------------------------------------------------------------- getopt_long


@dataclass(frozen=True)
class Getopt:
    """A program's options as GNU getopt_long sees them (all of them, modelled or not)."""

    prog: str
    short: str  # the getopt string: "d:" takes an argument, "I::" an optional one
    long: tuple[tuple[str, str, int], ...]  # (name, key, 0 none | 1 required | 2 optional)
    permute: bool = True  # False: the first operand ends the options ("+" in the string)
    usage: str = ""  # the line(s) after an option error (``Try 'prog --help' ...``)
    status: int = 1  # exit status of a usage error

    def try_help(self) -> str:
        return self.usage or f"Try '{self.prog} --help' for more information.\n"


@dataclass
class Option:
    key: str  # the short letter, or the long name of a long-only option
    value: str | None
    spelled: str  # as written: "-d", "--utc"


class UsageError(Exception):
    pass


def getopt(spec: Getopt, args: list[str]) -> tuple[list[Option], list[str]]:
    """Options and operands of ``args``; ``UsageError`` with GNU's message (and the
    ``Try ...`` line) for an invalid or ambiguous option or a missing argument."""
    options: list[Option] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands += args[i:]
            break
        if arg.startswith("--"):
            option, i = _long_option(spec, arg, args, i)
            options.append(option)
        elif arg.startswith("-") and arg != "-":
            i = _short_options(spec, arg, args, i, options)
        elif spec.permute:
            operands.append(arg)
        else:
            operands += args[i - 1 :]
            break
    return options, operands


def _long_option(spec: Getopt, arg: str, args: list[str], i: int) -> tuple[Option, int]:
    name, has_value, value = arg[2:].partition("=")
    exact = [entry for entry in spec.long if entry[0] == name]
    matches = exact or [entry for entry in spec.long if entry[0].startswith(name)]
    if not matches:
        raise UsageError(f"{spec.prog}: unrecognized option '{arg}'\n{spec.try_help()}")
    first = matches[0]
    ambiguous = [first, *(m for m in matches[1:] if m[1:] != first[1:])]
    if len(ambiguous) > 1:  # as gnulib lists them: the first and those unlike it
        names = " ".join(f"'--{entry[0]}'" for entry in ambiguous)
        raise UsageError(
            f"{spec.prog}: option '--{name}' is ambiguous; possibilities: {names}\n"
            + spec.try_help()
        )
    full, key, kind = matches[0]
    if kind == 0 and has_value:
        raise UsageError(
            f"{spec.prog}: option '--{full}' doesn't allow an argument\n{spec.try_help()}"
        )
    if kind == 1 and not has_value:
        if i >= len(args):
            raise UsageError(
                f"{spec.prog}: option '--{full}' requires an argument\n{spec.try_help()}"
            )
        value, i = args[i], i + 1
    return Option(key, value if (has_value or kind == 1) else None, f"--{full}"), i


def _short_options(spec: Getopt, arg: str, args: list[str], i: int, out: list[Option]) -> int:
    j = 1
    while j < len(arg):
        letter = arg[j]
        j += 1
        at = spec.short.find(letter)
        if letter == ":" or at < 0:
            raise UsageError(f"{spec.prog}: invalid option -- '{letter}'\n{spec.try_help()}")
        takes = spec.short[at + 1 : at + 3]
        if takes.startswith(":"):
            if j < len(arg):
                out.append(Option(letter, arg[j:], f"-{letter}"))
            elif takes == "::":
                out.append(Option(letter, None, f"-{letter}"))
            elif i < len(args):
                out.append(Option(letter, args[i], f"-{letter}"))
                i += 1
            else:
                raise UsageError(
                    f"{spec.prog}: option requires an argument -- '{letter}'\n{spec.try_help()}"
                )
            return i
        out.append(Option(letter, None, f"-{letter}"))
    return i


def _unsupported(prog: str, option: Option) -> str:
    return f"{prog}: unsupported option {option.spelled} in the simulated guest\n"


# ---------------------------------------------------------------------- quoting


OPEN_QUOTE, CLOSE_QUOTE = "\u2018", "\u2019"
_C_ESCAPES = {"\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v"}


def quote(text: str) -> str:
    """gnulib's ``quote()`` in a UTF-8 locale: the text between U+2018 and U+2019, with
    backslashes, U+2019 and control characters escaped."""
    out = []
    for char in text:
        if char in ("\\", CLOSE_QUOTE):
            out.append("\\" + char)
        elif char in _C_ESCAPES:
            out.append("\\" + _C_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return OPEN_QUOTE + "".join(out) + CLOSE_QUOTE


def quote_shell(text: str) -> str:
    """gnulib's ``quoteaf()`` (shell-escape-always): 'text', or "text" when it holds a single
    quote and nothing a double-quoted shell word would expand."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise Unsupported("control characters in a quoted name")
    if "'" in text and not any(c in text for c in '"$\\!`'):
        return f'"{text}"'
    return "'" + text.replace("'", "'\\''") + "'"


# ---------------------------------------------------------------------- paths


def resolve(system: GuestSystem, path: str) -> tuple[str, str]:
    """What ``stat PATH`` finds, component by component as the kernel walks it: "f" or "d"
    and the path as ``GuestSystem`` keys it, or the error (``No such file or directory``,
    ``Not a directory``) and the path walked so far."""
    current = "/"
    for part in path.split("/"):
        if not part:
            continue
        if not system.is_dir(current):
            return NOT_DIR, current
        if part == "..":
            current = posixpath.dirname(current)
        elif part != ".":
            current = posixpath.join(current, part)
            if not system.exists(current):
                return NOT_FOUND, current
    if system.is_dir(current):
        return "d", current
    stripped = path.rstrip("/")
    if path != stripped or stripped.endswith(("/.", "/..")):
        return NOT_DIR, current
    return "f", current


def _relative(prog: str, path: str) -> str:
    return (
        f"{prog}: relative path {path!r}: the simulated guest has no working directory "
        "(give an absolute path)\n"
    )


# ---------------------------------------------------------------------- the commands


class TextUtils:
    def __init__(self, table: Table, now: Callable[[], float]) -> None:
        self.table = table
        self.system = table.system
        self.now = now

    # ------------------------------------------------------------------ date

    def date(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield STEP
        try:
            options, operands = getopt(DATE, args)
        except UsageError as exc:
            io.err.write(str(exc))
            return 1
        datestr: str | None = None
        for option in options:
            if option.key == "d":
                datestr = option.value
            elif option.key != "u":  # -u: TZ=UTC0, and the guest's zone is UTC already
                io.err.write(_unsupported("date", option))
                return 1
        if len(operands) > 1:
            io.err.write(f"date: extra operand {quote(operands[1])}\n{DATE.try_help()}")
            return 1
        fmt = "%a %b %e %H:%M:%S %Z %Y"
        if operands and operands[0].startswith("+"):
            fmt = operands[0][1:]
        elif operands and datestr is not None:
            io.err.write(
                f"date: the argument {quote(operands[0])} lacks a leading '+';\n"
                "when using an option to specify date(s), any non-option\n"
                "argument must be a format string beginning with '+'\n" + DATE.try_help()
            )
            return 1
        elif operands:
            io.err.write(f"date: setting the clock: {NOT_MODELLED}\n")
            return 1
        try:
            when = Decimal(repr(self.now())) if datestr is None else _parse_date(datestr)
            io.out.write(strftime(fmt, when) + "\n")
        except _InvalidDate:
            io.err.write(f"date: invalid date {quote(datestr or '')}\n")
            return 1
        except Unsupported as exc:
            io.err.write(f"date: {exc}: {NOT_MODELLED}\n")
            return 1
        return 0

    # ------------------------------------------------------------------ ls

    def ls(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield STEP
        try:
            options, operands = getopt(LS, args)
        except UsageError as exc:
            io.err.write(str(exc))
            return 2
        show, reverse = "visible", False
        for option in options:
            if option.key in {"a", "A"}:
                show = "all" if option.key == "a" else "almost"
            elif option.key == "r":
                reverse = True
            elif option.key != "1":  # one name a line: what ls does when not on a terminal
                io.err.write(_unsupported("ls", option))
                return 2
        if not operands:
            io.err.write("ls: no operand: the simulated guest has no working directory\n")
            return 2
        for path in operands:
            if not path.startswith("/"):
                io.err.write(_relative("ls", path))
                return 2
        status, files, dirs = 0, [], {}
        for path in operands:
            kind, where = resolve(self.system, path)
            if kind == "d":
                dirs[path] = where
            elif kind == "f":
                files.append(path)
            else:
                try:
                    io.err.write(f"ls: cannot access {quote_shell(path)}: {kind}\n")
                except Unsupported as exc:
                    io.err.write(f"ls: {exc}: {NOT_MODELLED}\n")
                status = 2
        out = [f"{name}\n" for name in _sorted(files, reverse)]
        if files and dirs:
            out.append("\n")
        for index, path in enumerate(_sorted(list(dirs), reverse)):
            if len(operands) > 1:
                out.append(("\n" if index else "") + f"{path}:\n")
            names = self.system.listdir(dirs[path])
            if show == "visible":
                names = [n for n in names if not n.startswith(".")]
            elif show == "all":
                names += [".", ".."]
            out += [f"{name}\n" for name in _sorted(names, reverse)]
        io.out.write("".join(out))
        return status

    # ------------------------------------------------------------------ basename

    def basename(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield STEP
        try:
            options, operands = getopt(BASENAME, args)
        except UsageError as exc:
            io.err.write(str(exc))
            return 1
        multiple, suffix, end = False, "", "\n"
        for option in options:
            if option.key == "a":
                multiple = True
            elif option.key == "s":
                multiple, suffix = True, option.value or ""
            elif option.key == "z":
                end = "\0"
            else:
                io.err.write(_unsupported("basename", option))
                return 1
        if not operands:
            io.err.write(f"basename: missing operand\n{BASENAME.try_help()}")
            return 1
        if not multiple and len(operands) > 2:
            io.err.write(f"basename: extra operand {quote(operands[2])}\n{BASENAME.try_help()}")
            return 1
        if not multiple:
            operands, suffix = operands[:1], (operands[1] if len(operands) == 2 else "")
        io.out.write("".join(base_name(name, suffix) + end for name in operands))
        return 0

    # ------------------------------------------------------------------ grep

    def grep(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield STEP
        try:
            return self._grep(args, io, stdin)
        except UsageError as exc:
            io.err.write(str(exc))
            return 2
        except _RegexError as exc:
            io.err.write(f"grep: {exc}\n")
            return 2
        except Unsupported as exc:
            io.err.write(f"grep: {exc}: {NOT_MODELLED}\n")
            return 2

    def _grep(self, args: list[str], io: Streams, stdin: bytes) -> int:
        options, operands = getopt(GREP, args)
        flags: set[str] = set()
        matcher: str | None = None
        patterns: list[str] | None = None
        filenames: bool | None = None
        for option in options:
            if option.key in {"E", "F", "G"}:
                if matcher is not None and matcher != option.key:
                    io.err.write("grep: conflicting matchers specified\n")
                    return 2
                matcher = option.key
            elif option.key == "e":
                patterns = [*(patterns or []), *(option.value or "").split("\n")]
            elif option.key in {"h", "H"}:
                filenames = option.key == "H"
            elif option.key in {"q", "x", "c", "v", "s"}:
                flags.add(option.key)
            else:
                io.err.write(_unsupported("grep", option))
                return 2
        matcher = matcher or "G"
        if patterns is None:
            if not operands:
                raise UsageError(GREP.try_help())
            pattern = operands.pop(0)
            if matcher != "F" and pattern.startswith("\\-"):
                pattern = pattern[1:]  # grep '\-x': the backslash only keeps it an operand
            patterns = pattern.split("\n")
        for path in operands:
            if path != "-" and not path.startswith("/"):
                io.err.write(_relative("grep", path))
                return 2
        invert, count = "v" in flags, "c" in flags and "q" not in flags
        if set(patterns) == {""} and invert and "x" not in flags:
            return 1  # GNU sees that nothing can be selected and reads no input
        match = _matcher(patterns, matcher, "x" in flags)
        files = operands or ["-"]
        prefix = len(operands) > 1 if filenames is None else filenames
        selected_any = error = False
        for path in files:
            name = "(standard input)" if path == "-" else path
            data: bytes | None = stdin
            if path == "-":
                stdin = b""  # a second - finds it read
            else:
                data = self._grep_input(path, name, flags, io)
            if data is None:
                error = True
                if count and resolve(self.system, path)[0] == "d":
                    io.out.write(f"{name}:0\n" if prefix else "0\n")
                continue
            selected = 0
            for line in _lines(data, name):
                if match(line) == invert:
                    continue
                selected += 1
                if "q" in flags:
                    return 0  # exits at the first selected line, whatever came before
                if not count:
                    io.out.write(f"{name}:{line}\n" if prefix else f"{line}\n")
            if count:
                io.out.write(f"{name}:{selected}\n" if prefix else f"{selected}\n")
            selected_any = selected_any or selected > 0
        if error:
            return 2
        return 0 if selected_any else 1

    def _grep_input(self, path: str, name: str, flags: set[str], io: Streams) -> bytes | None:
        kind, where = resolve(self.system, path)
        if kind != "f":
            if "s" not in flags:
                problem = "Is a directory" if kind == "d" else kind
                io.err.write(f"grep: {name}: {problem}\n")
            return None
        return self.system.read(where) or b""

    # ------------------------------------------------------------------ sh

    def sh(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        """``sh FILE [ARG...]`` (and ``sh -c``): a new shell over the same command table."""
        shell = Shell(self.table.lookup, self.table.write_file, self.table.file_kind)
        return (yield from shell.run_sh("sh", args, io, stdin, self.system.read))


# ---------------------------------------------------------------------- option tables

_HELP = (("help", "help", 0), ("version", "version", 0))
DATE = Getopt(
    "date",
    "d:f:I::r:Rs:u",
    (
        ("date", "d", 1),
        ("debug", "debug", 0),
        ("file", "f", 1),
        ("iso-8601", "I", 2),
        ("reference", "r", 1),
        ("resolution", "resolution", 0),
        ("rfc-email", "R", 0),
        ("rfc-822", "R", 0),
        ("rfc-2822", "R", 0),
        ("rfc-3339", "rfc-3339", 1),
        ("set", "s", 1),
        ("uct", "u", 0),
        ("utc", "u", 0),
        ("universal", "u", 0),
        *_HELP,
    ),
)
LS = Getopt(
    "ls",
    "abcdfghiklmnopqrstuvw:xABCDFGHI:LNQRST:UXZ1",
    (
        ("all", "a", 0),
        ("escape", "b", 0),
        ("directory", "d", 0),
        ("dired", "D", 0),
        ("full-time", "full-time", 0),
        ("group-directories-first", "group-directories-first", 0),
        ("human-readable", "h", 0),
        ("inode", "i", 0),
        ("kibibytes", "k", 0),
        ("numeric-uid-gid", "n", 0),
        ("no-group", "G", 0),
        ("hide-control-chars", "q", 0),
        ("reverse", "r", 0),
        ("size", "s", 0),
        ("width", "w", 1),
        ("almost-all", "A", 0),
        ("ignore-backups", "B", 0),
        ("classify", "F", 2),
        ("file-type", "file-type", 0),
        ("si", "si", 0),
        ("dereference-command-line", "H", 0),
        ("dereference-command-line-symlink-to-dir", "dcl-symlink-to-dir", 0),
        ("hide", "hide", 1),
        ("ignore", "I", 1),
        ("indicator-style", "indicator-style", 1),
        ("dereference", "L", 0),
        ("literal", "N", 0),
        ("quote-name", "Q", 0),
        ("quoting-style", "quoting-style", 1),
        ("recursive", "R", 0),
        ("format", "format", 1),
        ("show-control-chars", "show-control-chars", 0),
        ("sort", "sort", 1),
        ("tabsize", "T", 1),
        ("time", "time", 1),
        ("time-style", "time-style", 1),
        ("zero", "zero", 0),
        ("color", "color", 2),
        ("hyperlink", "hyperlink", 2),
        ("block-size", "block-size", 1),
        ("context", "Z", 0),
        ("author", "author", 0),
        *_HELP,
    ),
    status=2,
)
BASENAME = Getopt(
    "basename",
    "as:z",
    (("multiple", "a", 0), ("suffix", "s", 1), ("zero", "z", 0), *_HELP),
    permute=False,
)
GREP = Getopt(
    "grep",
    "0123456789A:B:C:D:EFGHIPTUVX:abcd:e:f:hiLlm:noqRrsuvwxyZz",
    (
        ("basic-regexp", "G", 0),
        ("extended-regexp", "E", 0),
        ("fixed-regexp", "F", 0),
        ("fixed-strings", "F", 0),
        ("perl-regexp", "P", 0),
        ("after-context", "A", 1),
        ("before-context", "B", 1),
        ("binary-files", "binary-files", 1),
        ("byte-offset", "b", 0),
        ("context", "C", 1),
        ("color", "color", 2),
        ("colour", "color", 2),
        ("count", "c", 0),
        ("devices", "D", 1),
        ("directories", "d", 1),
        ("exclude", "exclude", 1),
        ("exclude-from", "exclude-from", 1),
        ("exclude-dir", "exclude-dir", 1),
        ("file", "f", 1),
        ("files-with-matches", "l", 0),
        ("files-without-match", "L", 0),
        ("group-separator", "group-separator", 1),
        ("help", "help", 0),
        ("include", "include", 1),
        ("ignore-case", "i", 0),
        ("no-ignore-case", "no-ignore-case", 0),
        ("initial-tab", "T", 0),
        ("label", "label", 1),
        ("line-buffered", "line-buffered", 0),
        ("line-number", "n", 0),
        ("line-regexp", "x", 0),
        ("max-count", "m", 1),
        ("no-filename", "h", 0),
        ("no-group-separator", "group-separator", 0),
        ("no-messages", "s", 0),
        ("null", "Z", 0),
        ("null-data", "z", 0),
        ("only-matching", "o", 0),
        ("quiet", "q", 0),
        ("recursive", "r", 0),
        ("dereference-recursive", "R", 0),
        ("regexp", "e", 1),
        ("invert-match", "v", 0),
        ("silent", "q", 0),
        ("text", "a", 0),
        ("binary", "U", 0),
        ("unix-byte-offsets", "u", 0),
        ("version", "V", 0),
        ("with-filename", "H", 0),
        ("word-regexp", "w", 0),
    ),
    usage="Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n",
    status=2,
)


def _sorted(names: list[str], reverse: bool) -> list[str]:
    # C.UTF-8 collates by code point, which is the byte order of UTF-8
    return sorted(names, reverse=reverse)


def base_name(name: str, suffix: str) -> str:
    """coreutils' ``basename NAME SUFFIX``: the last component without trailing slashes;
    SUFFIX is removed unless it is the whole component (or the name is ``/``)."""
    stripped = name.rstrip("/")
    base = stripped.rsplit("/", 1)[-1] if stripped else ("/" if name else "")
    if suffix and base != "/" and len(base) > len(suffix) and base.endswith(suffix):
        base = base[: -len(suffix)]
    return base


# ---------------------------------------------------------------------- date


class _InvalidDate(Exception):
    pass


_SPACE = " \t\n\v\f\r"
_EPOCH = re.compile(
    r"[ \t\n\v\f\r]*@[ \t\n\v\f\r]*([-+]?)[ \t\n\v\f\r]*(\d+)(?:[.,](\d+))?[ \t\n\v\f\r]*",
    re.ASCII,
)
_MAX_TIME = 2**63 - 1
_FIRST = int(dt.datetime(1000, 1, 1, tzinfo=dt.UTC).timestamp())
_END = int(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()) + 1


def _parse_date(text: str) -> Decimal:
    """``-d @EPOCH[.FRACTION]`` as parse_datetime reads it; other dates are not modelled."""
    found = _EPOCH.fullmatch(text)
    if found is None:
        body = text.strip(_SPACE)
        if not body.startswith("@"):
            raise Unsupported(f"the date {quote(text)} (only @EPOCH)")
        if sum(body.count(sign) for sign in "+-") > 1:
            raise Unsupported(f"the date {quote(text)}")  # GNU reads signs on signs
        raise _InvalidDate(text)
    sign, whole, fraction = found.groups()
    if int(whole) > _MAX_TIME + (sign == "-"):
        raise _InvalidDate(text)  # beyond time_t
    value = Decimal(whole) + Decimal(f"0.{(fraction or '0')[:9]}")
    return -value if sign == "-" else value


_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# conversion -> (default padding, default width); the value comes from _number
_NUMBERS = {
    "C": ("0", 2),
    "d": ("0", 2),
    "e": (" ", 2),
    "g": ("0", 2),
    "G": ("0", 4),
    "H": ("0", 2),
    "I": ("0", 2),
    "j": ("0", 3),
    "k": (" ", 2),
    "l": (" ", 2),
    "m": ("0", 2),
    "M": ("0", 2),
    "q": ("0", 1),
    "s": ("0", 1),
    "S": ("0", 2),
    "u": ("0", 1),
    "U": ("0", 2),
    "V": ("0", 2),
    "w": ("0", 1),
    "W": ("0", 2),
    "y": ("0", 2),
    "Y": ("0", 4),
}
_COMPOSITE = {
    "c": "%a %b %e %H:%M:%S %Y",
    "D": "%m/%d/%y",
    "F": "%Y-%m-%d",
    "r": "%I:%M:%S %p",
    "R": "%H:%M",
    "T": "%H:%M:%S",
    "x": "%m/%d/%y",
    "X": "%H:%M:%S",
}
_LITERAL = {"n": "\n", "t": "\t", "%": "%", "z": "+0000", ":z": "+00:00", "::z": "+00:00:00"}
_LITERAL[":::z"] = "+00"
_GNU_CONVERSIONS = set("aAbBcCdDeFgGhHIjklmMnNpPqrRsStTuUVwWxXyYzZ%")
_SPEC = re.compile(r"%([-_0^#+]*)(\d*)([EO]?)(:*)(.?)", re.DOTALL)


def strftime(fmt: str, when: Decimal) -> str:
    """GNU date's FORMAT at epoch ``when`` in UTC (years 1000 to 9999)."""
    if not _FIRST <= when < _END:
        raise Unsupported("years before 1000 or after 9999")
    seconds = int(when.to_integral_value(rounding="ROUND_FLOOR"))
    nanos = int((when - seconds) * 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    out: list[str] = []
    pos = 0
    for spec in _SPEC.finditer(fmt):
        out.append(fmt[pos : spec.start()])
        pos = spec.end()
        out.append(_conversion(spec, moment, seconds, nanos))
    out.append(fmt[pos:])
    return "".join(out)


def _conversion(spec: re.Match[str], moment: dt.datetime, seconds: int, nanos: int) -> str:
    flags, width, modifier, colons, letter = spec.groups()
    plain = not (flags or width or modifier or colons)
    refused = Unsupported(f"the conversion {spec.group(0)!r}")
    if letter == "" and plain:
        return "%"  # a % ending the format is itself
    if letter not in _GNU_CONVERSIONS:
        if plain and letter.isascii() and letter.isalpha():
            return spec.group(0)  # GNU prints a conversion it does not know as it is
        raise refused
    if modifier or "#" in flags or "+" in flags or (colons and letter != "z"):
        raise refused
    if letter == "N":
        if flags or not (width == "" or 1 <= int(width) <= 9):
            raise refused
        return f"{nanos:09d}"[: int(width or 9)]
    if letter in _COMPOSITE or letter in "znt%":
        if flags or width or colons + letter not in {*_LITERAL, *_COMPOSITE}:
            raise refused
        if letter in _COMPOSITE:
            return strftime(_COMPOSITE[letter], Decimal(seconds))
        return _LITERAL[colons + letter]
    pad = next((f for f in reversed(flags) if f in "-_0"), None)
    if letter in _NUMBERS:
        default_pad, default_width = _NUMBERS[letter]
        value = _number(letter, moment, seconds)
        digits, sign = str(abs(value)), "-" if value < 0 else ""
        if pad == "-":
            return sign + digits
        size = int(width) if width else default_width
        if (pad or default_pad) == "0":
            return sign + digits.rjust(size - len(sign), "0")
        return (sign + digits).rjust(size)
    text = _name(letter, moment)
    if "^" in flags:
        if letter == "P":
            raise refused  # GNU leaves %^P lower case
        text = text.upper()
    if pad == "-" or not width:
        return text
    return text.rjust(int(width), "0" if pad == "0" else " ")


def _number(letter: str, moment: dt.datetime, seconds: int) -> int:
    iso_year, iso_week, iso_day = moment.isocalendar()
    yday = moment.timetuple().tm_yday - 1
    sunday_based = (moment.weekday() + 1) % 7
    values = {
        "C": moment.year // 100,
        "d": moment.day,
        "e": moment.day,
        "g": iso_year % 100,
        "G": iso_year,
        "H": moment.hour,
        "I": moment.hour % 12 or 12,
        "j": yday + 1,
        "k": moment.hour,
        "l": moment.hour % 12 or 12,
        "m": moment.month,
        "M": moment.minute,
        "q": (moment.month - 1) // 3 + 1,
        "s": seconds,
        "S": moment.second,
        "u": iso_day,
        "U": (yday + 7 - sunday_based) // 7,
        "V": iso_week,
        "w": sunday_based,
        "W": (yday + 7 - moment.weekday()) // 7,
        "y": moment.year % 100,
        "Y": moment.year,
    }
    return values[letter]


def _name(letter: str, moment: dt.datetime) -> str:
    day, month = _DAYS[moment.weekday()], _MONTHS[moment.month - 1]
    return {
        "a": day[:3],
        "A": day,
        "b": month[:3],
        "h": month[:3],
        "B": month,
        "p": "AM" if moment.hour < 12 else "PM",
        "P": "am" if moment.hour < 12 else "pm",
        "Z": "UTC",
    }[letter]


# ---------------------------------------------------------------------- grep


class _RegexError(Exception):
    """GNU grep's own complaint about a pattern (exit status 2)."""


def _lines(data: bytes, name: str) -> list[str]:
    if b"\0" in data:
        raise Unsupported(f"{name}: binary input (NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unsupported(f"{name}: input that is not UTF-8") from exc
    if not text:
        return []
    return text.removesuffix("\n").split("\n")


def _matcher(patterns: list[str], kind: str, whole: bool) -> Callable[[str], bool]:
    """Whether a line holds (or with ``whole`` is) one of ``patterns``."""
    if kind == "F":
        if whole:
            wanted = set(patterns)
            return lambda line: line in wanted
        return lambda line: any(p in line for p in patterns)
    compiled: list[re.Pattern[str]] = []
    ascii_classes = False
    for pattern in patterns:
        translated = _Translate(pattern, extended=kind == "E")
        ascii_classes = ascii_classes or translated.unicode_classes
        try:
            compiled.append(re.compile(translated.python))
        except re.error as exc:  # pragma: no cover - the translation should not produce this
            raise Unsupported(f"the pattern {pattern!r} ({exc})") from exc

    def match(line: str) -> bool:
        if ascii_classes and not line.isascii():
            raise Unsupported("character classes on non-ASCII text")
        if whole:
            return any(p.fullmatch(line) for p in compiled)
        return any(p.search(line) for p in compiled)

    return match


_CLASSES = {
    "alpha": "A-Za-z",
    "digit": "0-9",
    "alnum": "0-9A-Za-z",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
    "print": " -~",
    "graph": "!-~",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
}
_UNMATCHED_BRACKET = "Unmatched [, [^, [:, [., or [="


class _Translate:
    """A POSIX basic (GNU extensions ``\\| \\+ \\?`` included) or extended regular
    expression as Python ``re`` source; ``_RegexError`` with grep's message for what grep
    rejects, ``Unsupported`` for what is not translated (back-references, ``\\w``...)."""

    def __init__(self, pattern: str, *, extended: bool) -> None:
        self.pattern = pattern
        self.extended = extended
        self.unicode_classes = False  # classes other than digit and xdigit (ASCII anyway)
        self.out: list[str] = []
        self.depth = 0
        self.atom_at = 0  # where in ``out`` the piece that a repetition repeats starts
        self.opened: list[int] = []  # where the open groups start
        self.groups = 0
        # what came last: "start" (of the pattern, a group, an alternative), "caret" (a
        # leading ^), "anchor" ($), "atom", "star" (*) or "repeat" (another repetition)
        self.last = "start"
        self.i = 0
        self.python = self._run()

    def _unsupported(self, what: str) -> Unsupported:
        return Unsupported(f"{what} in the pattern {self.pattern!r}")

    def _run(self) -> str:
        p, n = self.pattern, len(self.pattern)
        while self.i < n:
            c = p[self.i]
            self.i += 1
            if c == "\\":
                if self.i >= n:
                    raise _RegexError("Trailing backslash")
                self.i += 1
                self._escape(p[self.i - 1])
            elif c == "[":
                self._bracket()
            elif c == "*" or (self.extended and c in "+?"):
                self._repeat(c)
            elif self.extended and c == "{":
                self._interval("}")
            elif self.extended and c == "(":
                self._open()
            elif self.extended and c == ")" and self.depth:
                self._close()
            elif self.extended and c == "|":
                self._alternative()
            elif c == "^" and (self.extended or self.last == "start"):
                self.out.append("^")
                self.last = "caret"  # a * right after it is literal in a BRE
            elif c == "$" and (self.extended or self._at_end()):
                self.out.append("$")
                self.last = "anchor"
            elif c == ".":
                self._atom(".")
            else:
                self._atom(re.escape(c))
        if self.depth:
            raise _RegexError("Unmatched ( or \\(")
        return "".join(self.out)

    def _at_end(self) -> bool:
        rest = self.pattern[self.i :]
        return rest == "" or rest.startswith(("\\)", "\\|"))

    def _atom(self, text: str) -> None:
        self.atom_at = len(self.out)
        self.out.append(text)
        self.last = "atom"

    def _escape(self, c: str) -> None:
        if not self.extended and c in "(){}|+?":
            if c == "(":
                self._open()
            elif c == ")":
                self._close()
            elif c == "|":
                self._alternative()
            elif c == "{":
                self._interval("\\}")
            elif c == "}":
                raise self._unsupported("a \\} that closes no interval")
            else:
                self._repeat(c)
            return
        if c in ".*[]^$\\" or (self.extended and c in "(){}|+?"):
            self._atom(re.escape(c))
        elif c.isdigit() and c != "0":
            if int(c) > self.groups:
                raise _RegexError("Invalid back reference")
            raise self._unsupported(f"the back-reference \\{c}")  # grep has one: not modelled
        else:
            raise self._unsupported(f"the escape \\{c}")

    def _open(self) -> None:
        self.opened.append(len(self.out))
        self.out.append("(")
        self.depth += 1
        self.last = "start"

    def _close(self) -> None:
        if not self.depth:
            raise _RegexError("Unmatched ) or \\)")
        self.out.append(")")
        self.atom_at = self.opened.pop()
        self.depth -= 1
        self.groups += 1
        self.last = "atom"

    def _alternative(self) -> None:
        self.out.append("|")
        self.last = "start"

    def _repeat(self, c: str) -> None:
        if self.last in {"start", "caret", "anchor"}:
            if c == "*" and not self.extended:
                self._atom("\\*")  # a BRE's leading * is an ordinary character
                return
            raise self._unsupported(f"{c} with nothing to repeat")
        if c == "*" and self.last == "star":
            return  # a** is a*
        self._repeated(c)
        self.last = "star" if c == "*" else "repeat"

    def _repeated(self, quantifier: str) -> None:
        """Append a repetition; one that follows another repeats the whole repeated piece
        (``a{1}*`` is ``(a{1})*``), which Python's ``re`` wants in a group."""
        if self.last in {"star", "repeat"}:
            whole = "".join(self.out[self.atom_at :])
            self.out[self.atom_at :] = [f"(?:{whole})"]
        self.out.append(quantifier)

    def _interval(self, close: str) -> None:
        end = self.pattern.find(close, self.i)
        body = self.pattern[self.i : end] if end >= 0 else ""
        bounds = re.fullmatch(r"(\d*)(,?)(\d*)", body)
        if end < 0 or bounds is None or body in {"", ","}:
            if not self.extended:
                raise _RegexError("Unmatched \\{" if end < 0 else "Invalid content of \\{\\}")
            raise self._unsupported("a { that does not start an interval")
        low, comma, high = bounds.groups()
        if not comma:
            high = low
        if low and high and int(low) > int(high):
            raise _RegexError("Invalid content of \\{\\}")
        if int(low or 0) > 255 or int(high or 0) > 255:
            raise self._unsupported("an interval over 255")
        if self.last not in {"atom", "star", "repeat"}:
            raise self._unsupported("an interval with nothing before it")
        self.i = end + len(close)
        self._repeated("{" + (low or "0") + ("," + high if comma else "") + "}")
        self.last = "repeat"

    def _bracket(self) -> None:
        p, n = self.pattern, len(self.pattern)
        j = self.i
        negate = j < n and p[j] == "^"
        j += negate
        start = j
        items: list[str] = []
        plain = True  # no range, no class: [:alpha:] is then a mistake grep rejects
        while True:
            if j >= n:
                raise _RegexError(_UNMATCHED_BRACKET)
            c = p[j]
            if c == "]" and j > start:
                break
            if c == "[" and j + 1 < n and p[j + 1] in ":.=":
                kind = p[j + 1]
                close = p.find(kind + "]", j + 2)
                if close < 0:
                    raise _RegexError(_UNMATCHED_BRACKET)
                name = p[j + 2 : close]
                if kind != ":":
                    raise self._unsupported(f"[{kind}{name}{kind}]")
                if name not in _CLASSES:
                    raise _RegexError("Invalid character class name")
                items.append(_CLASSES[name])
                plain = False
                self.unicode_classes = self.unicode_classes or name not in {"digit", "xdigit"}
                j = close + 2
                continue
            if j + 2 < n and p[j + 1] == "-" and p[j + 2] != "]":
                high = p[j + 2]
                if high == "[":
                    raise self._unsupported("a range ending in a bracket item")
                if ord(high) < ord(c):
                    raise _RegexError("Invalid range end")
                items.append(_class_char(c) + "-" + _class_char(high))
                plain = False
                j += 3
                continue
            items.append(_class_char(c))
            j += 1
        body = p[start:j]
        if plain and body[0] == ":" and body[-1] == ":" and body.strip(":"):
            raise _RegexError("character class syntax is [[:space:]], not [:space:]")
        self.i = j + 1
        self._atom("[" + ("^" if negate else "") + "".join(items) + "]")


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c
