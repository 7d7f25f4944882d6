"""`helpdesk` subcommands of the records module."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
