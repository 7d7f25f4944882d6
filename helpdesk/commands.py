"""Collects each module's CLI commands for the `helpdesk` group."""

from __future__ import annotations

import click


def all_commands() -> list[click.Command]:
    from helpdesk.core import cli as core_cli
    from helpdesk.core import ops_cli
    from helpdesk.letters import cli as letters_cli
    from helpdesk.mail import cli as mail_cli
    from helpdesk.records import cli as records_cli
    from helpdesk.sla import cli as sla_cli
    from helpdesk.tickets import cli as tickets_cli

    return [
        *tickets_cli.COMMANDS,
        *mail_cli.COMMANDS,
        *letters_cli.COMMANDS,
        *records_cli.COMMANDS,
        *sla_cli.COMMANDS,
        *core_cli.COMMANDS,
        *ops_cli.COMMANDS,
    ]
