"""sla pages."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sla", __name__, url_prefix="/sla")
