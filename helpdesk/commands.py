"""Feature commands registered on the `helpdesk` CLI group (each module adds its own)."""

from __future__ import annotations

import click

ALL: list[click.Command] = []
