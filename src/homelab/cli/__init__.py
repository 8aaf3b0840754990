"""The command line: parse arguments, call homelab.verbs, print, map errors to exit codes."""
