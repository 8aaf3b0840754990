"""File commands of a simulated guest: sed -i, install, mkdir, rm, cp, mv, chmod, cat, touch.

``FileCommands`` implements them over a ``GuestSystem`` with coreutils' messages (``cannot
stat 'x': No such file or directory``...). ``sed`` knows the ``s/regex/replacement/flags``
command with POSIX classes (``[[:space:]]``), which is what first-boot scripts use; any other
sed program is refused with a clear message, not ignored.
"""

from __future__ import annotations

import posixpath
import re

from homelab_sim.guest.shell import Gen, Streams
from homelab_sim.guest.system import GuestSystem

MANIFESTS = "/etc/kubernetes/manifests"


class FileCommands:
    def __init__(self, system: GuestSystem) -> None:
        self.system = system

    def file_kind(self, path: str) -> str | None:
        """What ``[ -e | -f | -d PATH ]`` sees: "d", "f", or None."""
        if self.system.is_dir(path):
            return "d"
        return "f" if self.system.exists(path) else None

    def manifest_written(self, path: str) -> None:
        """A file landed in /etc/kubernetes/manifests (the kubelet watches that directory)."""

    def manifest_removed(self, path: str) -> None:
        """A file left /etc/kubernetes/manifests (the kubelet stops its static pod)."""

    def _left_manifests(self, path: str) -> None:
        path = posixpath.normpath(path)
        if path == MANIFESTS:
            for name in self.system.listdir(path):
                self.manifest_removed(f"{MANIFESTS}/{name}")
        elif posixpath.dirname(path) == MANIFESTS:
            self.manifest_removed(path)

    def sed(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        in_place, scripts, files = False, [], []
        rest = iter(args)
        for arg in rest:
            if arg == "-i":
                in_place = True
            elif arg in {"-E", "-r"}:
                continue
            elif arg == "-e":
                scripts.append(next(rest, ""))
            elif arg.startswith("-"):
                io.err.write(f"sed: unsupported option {arg} in the simulated guest\n")
                return 1
            else:
                files.append(arg)
        if not scripts and files:
            scripts.append(files.pop(0))
        try:
            edits = [_sed_substitution(script) for script in scripts]
        except ValueError as exc:
            io.err.write(f"sed: -e expression #1, char 1: {exc}\n")
            return 1
        for path in files:
            text = self.system.text(path)
            if text is None:
                io.err.write(f"sed: can't read {path}: No such file or directory\n")
                return 2
            lines = [_apply(edits, line) for line in text.split("\n")]
            if in_place:
                entry = self.system.files[posixpath.normpath(path)]
                entry.content = "\n".join(lines).encode()
            else:
                io.out.write("\n".join(lines))
        return 0

    def install(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        mode, directory, parents, paths = 0o755, False, False, []
        owner, group = "root", "root"
        rest = iter(args)
        for arg in rest:
            if arg == "-d":
                directory = True
            elif arg == "-D":
                parents = True
            elif arg == "-m":
                mode = int(next(rest, "755"), 8)
            elif arg == "-o":
                owner = next(rest, "root")
            elif arg == "-g":
                group = next(rest, "root")
            else:
                paths.append(arg)
        for who, known in ((owner, self.system.users), (group, self.system.users)):
            if who != "root" and who not in known:
                kind = "user" if who == owner else "group"
                io.err.write(f"install: invalid {kind} '{who}'\n")
                return 1
        if directory:
            for path in paths:
                self.system.mkdirs(path)
            return 0
        if len(paths) != 2:
            io.err.write("install: missing destination file operand\n")
            return 1
        src, dst = paths
        data = self.system.read(src)
        if data is None:
            io.err.write(f"install: cannot stat '{src}': No such file or directory\n")
            return 1
        if not parents and not self.system.is_dir(posixpath.dirname(dst)):
            io.err.write(
                f"install: cannot create regular file '{dst}': No such file or directory\n"
            )
            return 1
        self.system.write(dst, data, mode, f"{owner}:{group}")
        if posixpath.dirname(posixpath.normpath(dst)) == MANIFESTS:
            self.manifest_written(dst)
        return 0

    def mkdir(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        rest = iter(args)
        parents = False
        for arg in rest:
            if arg == "-p":
                parents = True
            elif arg == "-m":
                next(rest, None)
            elif self.system.exists(arg) and not parents:
                io.err.write(f"mkdir: cannot create directory '{arg}': File exists\n")
                return 1
            else:
                self.system.mkdirs(arg)
        return 0

    def rm(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        force = any(a.startswith("-") and "f" in a for a in args)
        for path in (a for a in args if not a.startswith("-")):
            if not self.system.exists(path) and not force:
                io.err.write(f"rm: cannot remove '{path}': No such file or directory\n")
                return 1
            if self.system.exists(path):
                self._left_manifests(path)
            self.system.remove_tree(path)
        return 0

    def cp(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.1
        paths = [a for a in args if not a.startswith("-")]
        if len(paths) != 2:
            io.err.write("cp: missing destination file operand\n")
            return 1
        src, dst = paths
        if not self.system.exists(src):
            io.err.write(f"cp: cannot stat '{src}': No such file or directory\n")
            return 1
        if self.system.is_dir(dst):
            dst = posixpath.join(dst, posixpath.basename(src.rstrip("/")))
        self.system.copy_tree(src, dst)
        return 0

    def mv(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        """``mv [-f] SRC... DEST``: a rename (files and whole directories); into DEST when it
        is a directory; several sources need a directory, as coreutils says."""
        yield 0.05
        paths = [a for a in args if not a.startswith("-")]
        if len(paths) < 2:
            io.err.write("mv: missing destination file operand\n")
            return 1
        *sources, dest = paths
        into = self.system.is_dir(dest)
        if len(sources) > 1 and not into:
            io.err.write(f"mv: target '{dest}' is not a directory\n")
            return 1
        status = 0
        for src in sources:
            if not self.system.exists(src):
                io.err.write(f"mv: cannot stat '{src}': No such file or directory\n")
                status = 1
                continue
            target = posixpath.join(dest, posixpath.basename(src.rstrip("/"))) if into else dest
            if not self.system.is_dir(posixpath.dirname(posixpath.normpath(target)) or "/"):
                io.err.write(f"mv: cannot move '{src}' to '{target}': No such file or directory\n")
                status = 1
                continue
            if self.system.is_dir(target) and self.system.listdir(target):
                io.err.write(f"mv: cannot move '{src}' to '{target}': Directory not empty\n")
                status = 1
                continue
            self._left_manifests(src)
            entry = self.system.files.get(posixpath.normpath(src))
            self.system.remove_tree(target)
            if entry is not None:
                self.system.write(target, entry.content, entry.mode, entry.owner)
            else:
                self.system.copy_tree(src, target)
            self.system.remove_tree(src)
            if posixpath.dirname(posixpath.normpath(target)) == MANIFESTS:
                self.manifest_written(target)
        return status

    def chmod(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        mode, *paths = args
        for path in paths:
            entry = self.system.files.get(posixpath.normpath(path))
            if entry is None and self.system.is_dir(path):
                continue  # a directory's mode is not modelled
            if entry is None:
                io.err.write(f"chmod: cannot access '{path}': No such file or directory\n")
                return 1
            entry.mode = int(mode, 8)
        return 0

    def cat(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        if not args:
            io.out.write(stdin.decode("utf-8", "replace"))
        for path in args:
            text = self.system.text(path)
            if text is None:
                io.err.write(f"cat: {path}: No such file or directory\n")
                return 1
            io.out.write(text)
        return 0

    def touch(self, args: list[str], io: Streams, stdin: bytes) -> Gen:
        yield 0.05
        for path in args:
            if self.system.read(path) is None:
                self.system.write(path, b"")
        return 0


def _sed_substitution(script: str) -> tuple[re.Pattern[str], str, bool]:
    if len(script) < 2 or script[0] != "s":
        raise ValueError("unknown command (the simulated sed knows s///)")
    delim = script[1]
    pieces = re.split(rf"(?<!\\){re.escape(delim)}", script[2:])
    if len(pieces) != 3:
        raise ValueError(f"unterminated `s' command: {script}")
    pattern, replacement, flags = pieces
    for cls, py in {
        "[[:space:]]": r"\s",
        "[[:digit:]]": r"\d",
        "[[:alpha:]]": "[A-Za-z]",
        "[[:alnum:]]": "[A-Za-z0-9]",
    }.items():
        pattern = pattern.replace(cls, py)
    replacement = replacement.replace("&", r"\g<0>")
    return re.compile(pattern), replacement, "g" in flags


def _apply(edits: list[tuple[re.Pattern[str], str, bool]], line: str) -> str:
    for pattern, replacement, every in edits:
        line = pattern.sub(replacement, line, count=0 if every else 1)
    return line
