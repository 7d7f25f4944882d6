"""Operations on the web side: /healthz, /readyz, /metrics, the request id, the request log line,
HTTP latency, and DEFERRED SQLite reads for GET requests (helpdesk.db.reads).

/healthz and /readyz are public (a load balancer asks them) and tell nothing secret; /metrics is off
unless HELPDESK_METRICS is on, and then answers loopback only, or whoever sends HELPDESK_METRICS_TOKEN.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from helpdesk import db
from helpdesk.core import health, logs, metrics
from helpdesk.db import utcnow

bp = Blueprint("ops", __name__)
log = logging.getLogger("helpdesk.request")

PUBLIC = {"ops.healthz", "ops.readyz", "ops.metrics"}
#: a request id we accept from a proxy: short, printable, nothing that could break a log line
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK = {"127.0.0.1", "::1"}


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(health.liveness())  # the process answers: no database on purpose


@bp.get("/readyz")
def readyz() -> Any:
    report = health.readiness(current_app.config["HELPDESK"], utcnow())
    return jsonify(report.as_json()), 200 if report.ready else 503


@bp.get("/metrics", endpoint="metrics")
def metrics_page() -> Any:
    settings = current_app.config["HELPDESK"]
    if not settings["HELPDESK_METRICS"]:
        abort(404)
    token = str(settings["HELPDESK_METRICS_TOKEN"] or "")
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            abort(403)
    elif request.remote_addr not in LOOPBACK:
        abort(403)
    return Response(metrics.scrape(utcnow()), mimetype="text/plain; version=0.0.4; charset=utf-8")


@bp.app_context_processor
def _outage_banner() -> dict[str, Any]:
    """`outage_banner` for the base layout: the worker's IMAP / SMTP / database outage, for admins."""
    from flask_login import current_user

    from helpdesk.auth.models import Role
    from helpdesk.core import outages

    banner = None
    if current_user.is_authenticated and current_user.has_role(Role.SUPERVISOR):
        banner = outages.banner(
            utcnow(), current_app.config["HELPDESK"].timezone
        )  # never raises: a banner must not break a page
    return {"outage_banner": banner}


def _state() -> dict[str, Any]:
    # kept on the WSGI environ, not on `g`: web's login check empties `g` at the start of a request
    return request.environ.setdefault("helpdesk.ops", {})


def _start() -> None:
    state = _state()
    given = request.headers.get("X-Request-ID", "")
    state["request_id"] = given if REQUEST_ID.match(given) else uuid.uuid4().hex
    state["request_id_token"] = logs.request_id.set(state["request_id"])
    state["started"] = time.perf_counter()
    if request.method in READ_METHODS:
        state["reads"] = reads = db.reads()
        reads.__enter__()


def request_id() -> str | None:
    return _state().get("request_id")


def _finish(response: Response) -> Response:
    state = _state()
    request_id = state.get("request_id")
    if request_id is None:
        return response
    response.headers["X-Request-ID"] = request_id
    seconds = time.perf_counter() - state.get("started", time.perf_counter())
    metrics.http_observed(request.endpoint, request.method, response.status_code, seconds)
    extra: dict[str, Any] = {
        "request_id": request_id,
        "method": request.method,
        "endpoint": request.endpoint or "-",
        "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
    }
    ticket = (request.view_args or {}).get("ticket_id")
    if ticket is not None:
        extra["ticket"] = ticket
    if request.endpoint not in ("static", "ops.healthz"):  # probes every few seconds are noise
        log.info("%s %s %s", request.method, request.path, response.status_code, extra=extra)
    return response


def _teardown(_exc: BaseException | None) -> None:
    state = _state()
    reads = state.pop("reads", None)
    if reads is not None:
        db.end_reads()
        reads.__exit__(None, None, None)
    token = state.pop("request_id_token", None)
    if token is not None:
        try:
            logs.request_id.reset(token)
        except ValueError:  # reset from another context (a streamed response): just clear it
            logs.request_id.set("-")


def init_hooks(app: Flask) -> None:
    """The request hooks; registered before web's login check so that redirects get an id too.
    (Log output is configured by the entry points, wsgi.py and `helpdesk worker`, not here.)"""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
