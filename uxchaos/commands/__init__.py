"""The subcommands of `uxchaos`: one module per command, dispatched from cli.py."""
