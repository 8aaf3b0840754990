"""The guest's sh: the grammar of the renderer's runcmd scripts, builtins, failures."""

from __future__ import annotations

from typing import Any

from homelab_sim.guest import shell
from homelab_sim.guest.shell import BufferSink, Shell, Streams


class Recorder:
    """A command table whose commands record their calls; ``fail`` names failing commands."""

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[list[str]] = []
        self.stdin: list[bytes] = []
        self.fail = fail or {}
        self.files: dict[str, str] = {}

    def lookup(self, name: str) -> shell.Command | None:
        if name == "missing":
            return None

        def command(args: list[str], io: Streams, stdin: bytes) -> shell.Gen:
            self.calls.append([name, *args])
            self.stdin.append(stdin)
            yield 1.0
            if name == "out":
                io.out.write(" ".join(args) + "\n")
            return self.fail.get(name, 0)

        return command

    def write(self, path: str, text: str, append: bool) -> bool:
        self.files[path] = (self.files.get(path, "") if append else "") + text
        return True


def run(script: str, rec: Recorder) -> tuple[int, float, str, str]:
    out, err = BufferSink(), BufferSink()
    gen = Shell(rec.lookup, rec.write).run_script(script, Streams(out, err))
    elapsed = 0.0
    try:
        while True:
            elapsed += next(gen)
    except StopIteration as done:
        status: Any = done.value
    return status, elapsed, out.value(), err.value()


def test_for_loop_with_seq_if_break_and_variables() -> None:
    rec = Recorder(fail={"try": 1})
    script = 'ok=0\nfor i in $(seq 3); do\n  if try "$i"; then ok=1; break; fi\n  sleep 5\ndone\n'
    script += 'if [ "$ok" != 1 ]; then echo "gave up after $i" >&2; exit 1; fi\n'
    status, elapsed, _, err = run(script, rec)
    assert status == 1
    assert rec.calls == [["try", "1"], ["try", "2"], ["try", "3"]]
    assert err == "gave up after 3\n"
    assert elapsed > 15  # three sleeps of 5 s and the commands' own time


def test_exit_0_ends_the_script_and_and_or_lists_short_circuit() -> None:
    rec = Recorder(fail={"bad": 2})
    status, _, _, _ = run("bad && never\nbad || good\nexit 0\nnever", rec)
    assert status == 0
    assert [c[0] for c in rec.calls] == ["bad", "bad", "good"]


def test_pipes_feed_stdout_to_stdin_and_redirects_go_where_they_say() -> None:
    rec = Recorder()
    status, _, out, err = run("out key | sink -o f\nout hidden >/dev/null 2>&1\nout x >> log", rec)
    assert status == 0
    assert rec.stdin[1] == b"key\n"
    assert out == "" and err == ""
    assert rec.files == {"log": "x\n"}


def test_quotes_keep_words_together_and_single_quotes_do_not_expand() -> None:
    rec = Recorder()
    run("a=1\ncmd 'x $a' \"y $a\" z$a", rec)
    assert rec.calls == [["cmd", "x $a", "y 1", "z1"]]


def test_an_unknown_command_is_127_and_named() -> None:
    status, _, _, err = run("missing --flag", Recorder())
    assert status == 127
    assert err == "sh: 1: missing: not found\n"


def test_a_syntax_error_is_status_2() -> None:
    status, _, _, err = run("if true; then echo", Recorder())
    assert status == 2
    assert "Syntax error" in err


def test_env_strips_assignments_and_runs_the_command() -> None:
    rec = Recorder()
    run("env DEBIAN_FRONTEND=noninteractive apt-get -y install x", rec)
    assert rec.calls == [["apt-get", "-y", "install", "x"]]


def test_file_tests_see_the_guest_files_as_dash_does() -> None:
    kinds = {"/etc/kubernetes/kubelet.conf": "f", "/etc/kubernetes": "d"}
    script = "\n".join(
        [
            "for p in /etc/kubernetes/kubelet.conf /etc/kubernetes /nope; do",
            '  if [ -e "$p" ]; then echo "e $p"; fi',
            '  if [ -f "$p" ]; then echo "f $p"; fi',
            '  if test -d "$p"; then echo "d $p"; fi',
            '  if [ ! -e "$p" ]; then echo "none $p"; fi',
            "done",
        ]
    )
    rec = Recorder()
    out, err = BufferSink(), BufferSink()
    gen = Shell(rec.lookup, rec.write, kinds.get).run_script(script, Streams(out, err))
    try:
        while True:
            next(gen)
    except StopIteration as done:
        assert done.value == 0
    assert out.value().splitlines() == [
        "e /etc/kubernetes/kubelet.conf",
        "f /etc/kubernetes/kubelet.conf",
        "e /etc/kubernetes",
        "d /etc/kubernetes",
        "none /nope",
    ]
    assert err.value() == ""
