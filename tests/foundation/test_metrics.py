"""/metrics: off by default; on with HELPDESK_METRICS for loopback or the token; the metric names;
HTTP latency by endpoint, not by URL; several processes added up through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def switch(app, **values: object) -> None:
    settings = app.config["HELPDESK"]
    app.config["HELPDESK"] = replace(settings, values={**settings.values, **values})


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_on_loopback_have_the_names_and_latency_by_endpoint(app, client, agent_client):
    switch(app, HELPDESK_METRICS=True)
    agent_client.get("/tickets/999999")  # a ticket URL: the label must be the endpoint, not the URL
    response = client.get("/metrics")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in (
        "helpdesk_tickets",
        "helpdesk_sla_open_warned",
        "helpdesk_sla_open_breached",
        "helpdesk_outbox_depth",
        "helpdesk_outbox_oldest_age_seconds",
        "helpdesk_mail_fetched_total",
        "helpdesk_mail_failed_total",
        "helpdesk_job_duration_seconds",
        "helpdesk_http_request_duration_seconds_bucket",
    ):
        assert name in page, name
    detail = [line for line in page.splitlines() if 'endpoint="tickets.detail"' in line]
    assert detail, "no latency recorded for the ticket page's endpoint"
    labels = [line.split("{", 1)[1].split("}", 1)[0] for line in page.splitlines() if "{" in line]
    assert not [label for label in labels if "999999" in label]  # (a float value may hold 999999)


def test_metrics_refuse_other_addresses_and_check_the_token(app, client):
    switch(app, HELPDESK_METRICS=True)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    switch(app, HELPDESK_METRICS=True, HELPDESK_METRICS_TOKEN="s3cret-token")
    assert client.get("/metrics").status_code == 403  # loopback is not enough once a token is set
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", headers=wrong).status_code == 403
    right = {"Authorization": "Bearer s3cret-token"}
    response = client.get("/metrics", headers=right, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200 and "helpdesk_tickets" in response.get_data(as_text=True)


COUNT_IN_A_PROCESS = """
import sys
from helpdesk.core import metrics
metrics.MAIL_FETCHED.inc(int(sys.argv[1]))
"""

SCRAPE = """
from helpdesk import create_app
app = create_app({"HELPDESK_METRICS": "true"})
print(app.test_client().get("/metrics").get_data(as_text=True))
"""


@pytest.mark.sqlite_only
def test_multiprocess_dir_adds_up_every_process(app, tmp_path):
    shared = tmp_path / "prom"
    shared.mkdir()
    settings = app.config["HELPDESK"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(shared),
        PYTHONPATH=str(ROOT),
        HELPDESK_DATABASE_URL=settings.database_url,
        HELPDESK_INSTANCE_DIR=str(settings.instance_dir),
        HELPDESK_SECRET_KEY=str(settings["HELPDESK_SECRET_KEY"]),
    )
    for n in ("2", "3"):  # two "workers", each its own process
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS, n], env=env, check=True, timeout=120)
    assert list(shared.glob("counter_*.db")), "prometheus_client wrote no per-process files"
    out = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert "helpdesk_mail_fetched_total 5.0" in out, out
    assert "helpdesk_outbox_depth 0.0" in out  # the database gauges come along
