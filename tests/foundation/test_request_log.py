"""The request id: taken from X-Request-ID (or made up), echoed, and on the request's log line with
the ticket number; the log line formats (key=value, JSON) are one line per event."""

from __future__ import annotations

import json
import logging
import re

from helpdesk.core import logs


def request_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "helpdesk.request"]


def test_request_id_from_the_proxy_is_echoed_and_logged_with_the_ticket(agent_client, caplog):
    caplog.set_level(logging.INFO, logger="helpdesk.request")
    response = agent_client.get("/tickets/424242", headers={"X-Request-ID": "edge-7f3a.01"})
    assert response.headers["X-Request-ID"] == "edge-7f3a.01"
    (record,) = [r for r in request_records(caplog) if r.request_id == "edge-7f3a.01"]
    assert record.ticket == 424242 and record.status == response.status_code
    assert record.endpoint == "tickets.detail"
    line = logs.KeyValueFormatter().format(record)
    assert "request_id=edge-7f3a.01" in line and "ticket=424242" in line and "\n" not in line
    as_json = json.loads(logs.JsonFormatter().format(record))
    assert as_json["request_id"] == "edge-7f3a.01" and as_json["ticket"] == 424242


def test_request_id_is_made_up_when_missing_or_unsafe(client, caplog):
    caplog.set_level(logging.INFO, logger="helpdesk.request")
    made = client.get("/login").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    unsafe = client.get("/login", headers={"X-Request-ID": "x y=1 level=ERROR"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe) and unsafe != made
    logged = {r.request_id for r in request_records(caplog)}
    assert {made, unsafe} <= logged
    redirected = client.get("/")  # a redirect to the login page gets an id and a log line too
    assert redirected.status_code == 302 and redirected.headers["X-Request-ID"]


def test_log_lines_outside_a_request_carry_a_dash_and_extras():
    record = logging.LogRecord(
        "helpdesk.scheduler", logging.INFO, __file__, 1, "job %s finished", ("sla-tick",), None
    )
    record.job, record.duration_ms = "sla-tick", 12.5
    logs.RequestIdFilter().filter(record)
    line = logs.KeyValueFormatter().format(record)
    assert 'msg="job sla-tick finished"' in line and "request_id=-" in line and "job=sla-tick" in line
    assert "duration_ms=12.5" in line
