"""/healthz, /readyz and `helpdesk check`: ready, and not ready for each reason, on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, text

from helpdesk import db
from helpdesk.config import load_settings
from helpdesk.core import health, ops_cli
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.mail.models import Mailbox, OutboundMail
from helpdesk.sla.models import CalendarYear


def queue_mail(created_minutes_ago: float) -> None:
    with unit_of_work():
        session.add(
            OutboundMail(
                to_addr="a@example.com",
                subject="回复：变更说明",
                body_text="您好",
                message_id=f"m{created_minutes_ago}@ops.test",
                created_at=utcnow() - timedelta(minutes=created_minutes_ago),
            )
        )


def test_healthz_is_public_and_needs_no_database(client):
    db.configure("postgresql+psycopg://nobody@127.0.0.1:1/nothing")  # a database that cannot answer
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.get_json()
    assert body["ready"] is False and body["checks"]["database"]["ok"] is False
    assert "nobody" not in ready.get_data(as_text=True)  # the database address is never shown


def test_readyz_ready_on_a_fresh_database_and_reveals_nothing_secret(client, app, calendar_ahead):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ready"] is True
    assert set(body["checks"]) == {"database", "migrations", "mailbox", "outbox", "calendar", "worker"}
    assert all(c["ok"] for c in body["checks"].values())
    page = response.get_data(as_text=True)
    settings = app.config["HELPDESK"]
    assert str(settings["HELPDESK_SECRET_KEY"]) not in page
    assert settings.database_url not in page and str(settings.instance_dir) not in page


def test_not_ready_when_migrations_are_behind(client, calendar_ahead):
    with unit_of_work():
        session.execute(text("UPDATE alembic_version SET version_num = 'f2a7c9d41e68'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.get_json()["checks"]["migrations"]
    assert check["ok"] is False and "f2a7c9d41e68" in check["detail"] and "init-db" in check["detail"]


def test_not_ready_when_the_outbox_is_stuck(client, calendar_ahead):
    queue_mail(created_minutes_ago=5)  # young: only waiting
    assert client.get("/readyz").status_code == 200
    queue_mail(created_minutes_ago=45)  # older than HELPDESK_READY_OUTBOX_MINUTES (30)
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.get_json()["checks"]["outbox"]
    assert check["ok"] is False and "2 封未发出" in check["detail"]


def test_not_ready_when_the_calendar_does_not_cover_the_next_30_days(client, calendar_ahead):
    needed = health.years_needed(utcnow().date())
    with unit_of_work():
        session.execute(delete(CalendarYear).where(CalendarYear.year == needed[-1]))
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.get_json()["checks"]["calendar"]
    assert check["ok"] is False and str(needed[-1]) in check["detail"]


def test_years_needed_crosses_the_new_year_30_days_ahead():
    from datetime import date

    assert health.years_needed(date(2026, 6, 1)) == [2026]
    assert health.years_needed(date(2026, 12, 5)) == [2026, 2027]


def test_mailbox_check_when_a_mailbox_is_configured(app, tmp_path):
    settings = load_settings(
        overrides={
            "HELPDESK_DATABASE_URL": app.config["HELPDESK"].database_url,
            "HELPDESK_INSTANCE_DIR": str(tmp_path / "other"),
            "HELPDESK_IMAP_HOST": "imap.example",
            "HELPDESK_IMAP_USER": "zxzj@ec.com.cn",
        }
    )
    now = utcnow()
    by_name = {c.name: c for c in health.readiness(settings, now).checks}
    assert by_name["mailbox"].ok is False  # never polled
    with unit_of_work():
        session.add(
            Mailbox(
                name="zxzj@ec.com.cn@imap.example/INBOX",
                last_uid=0,
                last_success_at=now - timedelta(minutes=3),
            )
        )
    assert {c.name: c for c in health.readiness(settings, now).checks}["mailbox"].ok is True
    late = now + timedelta(minutes=20)  # past HELPDESK_READY_POLL_MINUTES (10)
    check = {c.name: c for c in health.readiness(settings, late).checks}["mailbox"]
    assert check.ok is False and "imap.example" not in check.detail


def test_helpdesk_check_exit_codes(app, calendar_ahead):
    runner = app.test_cli_runner()
    result = runner.invoke(ops_cli.check)
    assert result.exit_code == 0, result.output
    assert "就绪" in result.output and "未就绪" not in result.output
    queue_mail(created_minutes_ago=120)
    result = runner.invoke(ops_cli.check)
    assert result.exit_code == 1
    assert "异常  outbox" in result.output and "未就绪" in result.output
    as_json = runner.invoke(ops_cli.check, ["--json"])
    assert as_json.exit_code == 1 and '"ready": false' in as_json.output
