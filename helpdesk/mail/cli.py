"""`helpdesk` subcommands of the mail module."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
