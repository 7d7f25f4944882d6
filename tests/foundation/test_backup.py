"""`helpdesk backup` / `helpdesk restore` on both databases, through the real commands.

A service with users, records, tickets made from real mails and attachment files on disk is backed
up, then restored into an empty database and an empty folder: every row and every file comes back.
A non-empty target is refused without --force, a tampered backup file fails its checksum, and the
restored schema sits at the manifest's revision (the usual upgrade still works on it).
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from helpdesk import db, migrate
from helpdesk.cli import helpdesk
from helpdesk.core import backup
from helpdesk.db import session
from helpdesk.records.models import Enterprise, PlatformAccount, Qualification
from helpdesk.tickets import intake
from tests.intake.conftest import make_mail

#: the tables whose rows must come back as they were
TABLES = [
    "users",
    "enterprises",
    "platform_accounts",
    "qualifications",
    "tickets",
    "messages",
    "attachments",
    "ticket_events",
    "inbound_mails",
    "sla_clocks",
    "outbound_mails",
]
LICENCE = b"%PDF-1.4\n% a stamped business licence scan\n" + bytes(range(256)) * 8
LETTER = b"PK\x03\x04 not really a docx, but bytes all the same" * 20


@pytest.fixture
def service(app: Flask, users: dict[str, Any]) -> Flask:
    """Records, and two tickets made from real mails with attachments stored on disk."""
    enterprise = Enterprise(name="北京恒达科技有限公司", uscc="91110108551385082Q", org_code="551385082")
    session.add(enterprise)
    session.flush()
    session.add_all(
        [
            PlatformAccount(enterprise_id=enterprise.id, account_name="hengda01", app_bound=True),
            PlatformAccount(enterprise_id=enterprise.id, account_name="zxkt_hengda02"),
            Qualification(enterprise_id=enterprise.id, fund_year=2026, review_status="已公示"),
        ]
    )
    session.commit()
    first = intake.import_eml(
        make_mail(
            subject="注销说明",
            body="我公司申请注销账号 zxkt_hengda02。",
            sender="wang@hengda.cn",
            attachments=[
                ("营业执照.pdf", "application/pdf", LICENCE),
                ("注销说明.docx", "application/zip", LETTER),
            ],
        )
    )
    second = intake.import_eml(
        make_mail(subject="咨询", body="请问拨付申请表在哪里打印？", sender="li@corp.cn")
    )
    assert first.outcome == second.outcome == "created"
    return app


def snapshot(url: str, attachments_dir: Path) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=TABLES)
        with engine.connect() as conn:
            rows = {
                name: [
                    tuple(r)
                    for r in conn.execute(sa.select(meta.tables[name]).order_by(meta.tables[name].c.id))
                ]
                for name in TABLES
            }
    finally:
        engine.dispose()
    files = {
        p.relative_to(attachments_dir).as_posix(): p.read_bytes()
        for p in attachments_dir.rglob("*")
        if p.is_file()
    }
    return {"rows": rows, "files": files}


@pytest.fixture
def empty_target(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    """An empty database (a new SQLite file / a new PostgreSQL database) and an empty folder."""
    folder = tmp_path / "restored-attachments"
    if db_kind == "sqlite":
        yield backup.Target(f"sqlite:///{tmp_path / 'restored.sqlite3'}", folder)
        return
    server = request.getfixturevalue("postgres_server")
    name = "restore_" + uuid.uuid4().hex[:10]
    url = server.create_database(name)
    try:
        yield backup.Target(url, folder)
    finally:
        server.drop_database(name)


def run_cli(target: backup.Target, tmp_path: Path, *args: str) -> Any:
    settings_url = str(db.engine().url.render_as_string(hide_password=False))
    env = {
        "HELPDESK_DATABASE_URL": target.database_url,
        "HELPDESK_ATTACHMENTS_DIR": str(target.attachments_dir),
        "HELPDESK_INSTANCE_DIR": str(tmp_path / "cli-instance"),
        "HELPDESK_SECRET_KEY": "cli-test",
        "HELPDESK_IMAP_HOST": "",
        "HELPDESK_SMTP_HOST": "",
    }
    # in a thread of its own: the command must build its app from this environment, not reuse the
    # test's app context (Flask's with_appcontext takes a current app when there is one)
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(CliRunner().invoke(helpdesk, list(args), env=env))
    )
    worker.start()
    worker.join()
    db.configure(settings_url)  # the command configured the shared engine for its own database
    result = results[0]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def source_target(app: Flask) -> backup.Target:
    settings = app.config["HELPDESK"]
    return backup.Target(settings.database_url, Path(settings.attachments_dir))


def test_backup_then_restore_into_empty_database_and_folder_gives_the_same_data(
    service, empty_target, tmp_path
):
    source = source_target(service)
    before = snapshot(source.database_url, source.attachments_dir)
    assert before["rows"]["tickets"] and before["rows"]["users"] and before["rows"]["platform_accounts"]
    assert LICENCE in before["files"].values()  # the attachments really are files on disk

    out = tmp_path / "backup-1"
    made = run_cli(source, tmp_path, "backup", str(out))
    assert made.exit_code == 0, made.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["database"] == empty_target.kind
    assert manifest["alembic_revision"] == migrate.head_revision()
    assert {e["path"] for e in manifest["files"]} >= {
        manifest["database_file"],
        *(f"attachments/{name}" for name in before["files"]),
    }

    restored = run_cli(empty_target, tmp_path, "restore", str(out))
    assert restored.exit_code == 0, restored.output
    assert "已从" in restored.output

    after = snapshot(empty_target.database_url, empty_target.attachments_dir)
    assert after == before
    engine = sa.create_engine(empty_target.database_url)
    try:
        assert migrate.current_revision(engine) == manifest["alembic_revision"]
        assert migrate.upgrade(engine)[1] == migrate.head_revision()  # `helpdesk init-db` works on it
        assert migrate.pending_changes(engine) == []
    finally:
        engine.dispose()


def test_restore_refuses_a_non_empty_target_without_force(service, empty_target, tmp_path):
    source = source_target(service)
    out = tmp_path / "backup-2"
    assert run_cli(source, tmp_path, "backup", str(out)).exit_code == 0

    # the service's own database holds tables
    into_live = backup.Target(source.database_url, empty_target.attachments_dir)
    refused = run_cli(into_live, tmp_path, "restore", str(out))
    assert refused.exit_code != 0
    assert "目标数据库" in refused.output and "不是空的" in refused.output and "--force" in refused.output

    # an empty database, but a folder with a file in it
    empty_target.attachments_dir.mkdir(parents=True)
    (empty_target.attachments_dir / "stray.bin").write_bytes(b"x")
    refused = run_cli(empty_target, tmp_path, "restore", str(out))
    assert refused.exit_code != 0 and "目标附件目录" in refused.output
    assert backup.database_tables(empty_target.database_url) == []  # nothing was restored

    # a backup directory that is not empty is refused too
    again = run_cli(source, tmp_path, "backup", str(out))
    assert again.exit_code != 0 and "不是空的" in again.output

    # told to, it overwrites: the stray file goes, the data arrives
    forced = run_cli(empty_target, tmp_path, "restore", "--force", str(out))
    assert forced.exit_code == 0, forced.output
    assert not (empty_target.attachments_dir / "stray.bin").exists()
    before = snapshot(source.database_url, source.attachments_dir)
    assert snapshot(empty_target.database_url, empty_target.attachments_dir) == before

    # and --force over a database that already holds this data gives the same data again
    forced = run_cli(empty_target, tmp_path, "restore", "--force", str(out))
    assert forced.exit_code == 0, forced.output
    assert snapshot(empty_target.database_url, empty_target.attachments_dir) == before


def test_a_tampered_file_fails_the_checksum_and_nothing_is_restored(service, empty_target, tmp_path):
    source = source_target(service)
    out = tmp_path / "backup-3"
    assert run_cli(source, tmp_path, "backup", str(out)).exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    victim = out / next(e["path"] for e in manifest["files"] if e["path"].startswith("attachments/"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0x01  # same size, one bit changed
    victim.write_bytes(bytes(data))

    refused = run_cli(empty_target, tmp_path, "restore", str(out))
    assert refused.exit_code != 0
    assert "校验和不符" in refused.output and victim.name in refused.output
    assert backup.database_tables(empty_target.database_url) == []
    assert not empty_target.attachments_dir.exists() or not any(empty_target.attachments_dir.iterdir())

    victim.unlink()
    missing = run_cli(empty_target, tmp_path, "restore", str(out))
    assert missing.exit_code != 0 and "文件缺失" in missing.output


def test_a_directory_without_manifest_is_refused(tmp_path):
    (tmp_path / "not-a-backup").mkdir()
    with pytest.raises(backup.BackupError, match="manifest.json"):
        backup.read_manifest(tmp_path / "not-a-backup")


def test_the_password_stays_out_of_messages_and_command_lines():
    target = backup.Target("postgresql+psycopg://helpdesk:s3cret-pw@db.example:5433/helpdesk", Path("/x"))
    assert "s3cret-pw" not in target.shown and "db.example" in target.shown
    env = backup._libpq_env(sa.engine.make_url(target.database_url))
    assert env["PGPASSWORD"] == "s3cret-pw" and env["PGHOST"] == "db.example" and env["PGPORT"] == "5433"
    assert env["PGDATABASE"] == "helpdesk" and env["PGUSER"] == "helpdesk"
