"""Use cases behind the CLI verbs (validate, render, plan, apply, ...).

Each function takes plain arguments, returns plain results and raises homelab.errors;
printing and exit codes belong to homelab.cli.
"""
