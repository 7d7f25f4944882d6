"""`helpdesk` subcommands of the sla module."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
