"""`homelab --install-completion` for bash, zsh and fish, judged by the real shells: each
installs where that shell looks, and the shell then completes homelab's commands and options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.tools import needs, require

HOMELAB = str(Path(sys.executable).parent / "homelab")


def _env(home: Path) -> dict[str, str]:
    path = f"{Path(HOMELAB).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"HOME": str(home), "PATH": path, "LANG": "C.UTF-8"}


def _install(shell: str, home: Path) -> str:
    # shellingham finds the shell from the parent process: run the command under that shell
    # (`; true` keeps zsh and bash from exec'ing it in their own place)
    done = subprocess.run(
        [require(shell), "-c", f"{HOMELAB} --install-completion; true"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"{shell} completion installed in" in done.stdout, done.stdout + done.stderr
    return done.stdout


def _run(shell: str, script: str, home: Path) -> str:
    done = subprocess.run(
        [require(shell), "-c", script],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


@needs("bash")
def test_bash_completes_commands_subcommands_and_options(tmp_path: Path) -> None:
    _install("bash", tmp_path)
    assert "homelab.sh" in (tmp_path / ".bashrc").read_text()
    complete = (
        "source ~/.bashrc; COMP_WORDS=({words}); COMP_CWORD={cword}; "
        '_homelab_completion homelab; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    assert _run("bash", complete.format(words="homelab in", cword=1), tmp_path).split() == ["init"]
    subs = _run("bash", complete.format(words="homelab backup st", cword=2), tmp_path)
    assert subs.split() == ["status"]
    options = _run("bash", complete.format(words="homelab init --from", cword=2), tmp_path)
    assert options.split() == ["--from-proxmox"]


@needs("fish")
def test_fish_completes_with_the_commands_help(tmp_path: Path) -> None:
    _install("fish", tmp_path)
    assert (tmp_path / ".config" / "fish" / "completions" / "homelab.fish").is_file()
    found = _run("fish", 'complete -C "homelab sim st"', tmp_path).splitlines()
    assert [line.split("\t")[0] for line in found] == ["start", "status", "stop"]
    assert found[0].split("\t")[1].startswith("Run the lab's simulator in the background")


@needs("zsh")
def test_zsh_registers_the_completion_function(tmp_path: Path) -> None:
    _install("zsh", tmp_path)
    assert (tmp_path / ".zfunc" / "_homelab").is_file()
    registered = _run(
        "zsh",
        "source ~/.zshrc; autoload -Uz compinit; compinit -u; print ${_comps[homelab]}",
        tmp_path,
    )
    assert registered.strip() == "_homelab"
    # what the function asks homelab for, and homelab's answer
    answer = subprocess.run(
        [HOMELAB],
        env={
            **_env(tmp_path),
            "_HOMELAB_COMPLETE": "complete_zsh",
            "_TYPER_COMPLETE_ARGS": "homelab restore ",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"cluster"' in answer.stdout and '"vm"' in answer.stdout
