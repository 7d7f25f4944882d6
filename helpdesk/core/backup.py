"""Backup and restore: the database and the attachments folder, with a manifest of checksums.

A backup directory holds:

- `database.sqlite3` (SQLite, through sqlite3's online backup API: consistent while the service
  runs) or `database.dump` (PostgreSQL, `pg_dump -Fc`: one consistent snapshot);
- `attachments/...`, a copy of the attachments folder (content-addressed files: the database is
  dumped first, so every file it names was already written when the folder is copied);
- `manifest.json`: format version, when, the Alembic revision, the database kind, and the sha256
  and size of every other file. A restore checks all of them before it touches anything.

A restore refuses a target database that holds tables, or an attachments folder that holds files,
unless `force` is given (then it empties them first). The connection goes to pg_dump/pg_restore
through libpq's environment variables (PGPASSWORD among them), never on a command line that `ps`
shows, and messages name the database without its password.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.dump"
ATTACHMENTS = "attachments"
CHUNK = 1 << 20

#: progress(done, total, what): what is a Chinese label of the current step
Progress = Callable[[int, int, str], None]


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message is Chinese, for the operator."""


@dataclass(frozen=True)
class Target:
    """Where the service's data lives: its database URL and its attachments folder."""

    database_url: str
    attachments_dir: Path

    @property
    def kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @property
    def shown(self) -> str:
        """The database without its password, for messages."""
        return make_url(self.database_url).render_as_string(hide_password=True)


def _quiet(_done: int, _total: int, _what: str) -> None:
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---- PostgreSQL client tools -----------------------------------------------------------------


def pg_tool(name: str) -> Path:
    """pg_dump / pg_restore: Debian's newest /usr/lib/postgresql/N/bin first (pg_dump must not be
    older than the server; the `pg_dump` on PATH may be an older wrapper's), then PATH."""
    candidates: list[Path] = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path).parent)
    for c in candidates:
        if (c / name).is_file():
            return c / name
    raise BackupError(f"找不到 PostgreSQL 工具 {name}：请安装 postgresql-client。")


def _libpq_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    pairs = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
    }
    for key, value in pairs.items():
        if value:
            env[key] = value
    for key, value in url.query.items():  # ?sslmode=require and the like
        if key in {"sslmode", "sslrootcert", "sslcert", "sslkey", "options", "connect_timeout"}:
            env["PG" + key.upper().replace("_", "")] = str(value if isinstance(value, str) else value[0])
    return env


def _run_pg(args: list[str], url: URL, what: str) -> None:
    proc = subprocess.run(args, env=_libpq_env(url), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{what}失败（退出码 {proc.returncode}）：" + " / ".join(tail))


# ---- what is in a database -------------------------------------------------------------------


def database_tables(database_url: str) -> list[str]:
    """The tables of the target database ([] for a missing SQLite file or an empty database)."""
    if not database_url.startswith("postgresql"):
        path = make_url(database_url).database
        if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
            return []
    engine = create_engine(database_url)
    try:
        return sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def alembic_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            if "alembic_version" not in inspect(conn).get_table_names():
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _files_under(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    # the store's half-written temporaries (.tmp-*) are not attachments
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))


# ---- backup ----------------------------------------------------------------------------------


def create(target: Target, directory: Path, *, progress: Progress = _quiet) -> dict[str, Any]:
    """Write a backup of `target` into `directory` (new or empty); returns the manifest."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"备份目录 {directory} 不是空的：请为每次备份指定一个新目录（例如按日期命名）。")
    directory.mkdir(parents=True, exist_ok=True)
    revision = alembic_revision(target.database_url)
    if revision is None:
        raise BackupError(
            f"数据库 {target.shown} 中没有 helpdesk 的表（alembic_version）：没有可备份的内容。"
        )

    progress(0, 1, "备份数据库")
    if target.kind == "sqlite":
        _sqlite_copy(_sqlite_path(target.database_url), directory / SQLITE_FILE, progress, "备份数据库")
        db_file = SQLITE_FILE
    else:
        url = make_url(target.database_url)
        _run_pg(
            [str(pg_tool("pg_dump")), "-Fc", "--no-owner", "--no-privileges", "-f", str(directory / PG_FILE)],
            url,
            "pg_dump 备份数据库",
        )
        db_file = PG_FILE
    progress(1, 1, "备份数据库")

    sources = _files_under(target.attachments_dir)
    for i, source in enumerate(sources, start=1):
        copy = directory / ATTACHMENTS / source.relative_to(target.attachments_dir)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
        progress(i, len(sources), "复制附件")

    files = [directory / db_file, *_files_under(directory / ATTACHMENTS)]
    entries = []
    for i, path in enumerate(files, start=1):
        entries.append(
            {
                "path": path.relative_to(directory).as_posix(),
                "sha256": sha256_of(path),
                "size": path.stat().st_size,
            }
        )
        progress(i, len(files), "计算校验和")
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alembic_revision": revision,
        "database": target.kind,
        "database_file": db_file,
        "files": entries,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return manifest


def _sqlite_path(database_url: str) -> Path:
    path = make_url(database_url).database
    if not path or path == ":memory:":
        raise BackupError("内存中的 SQLite 数据库无法备份或恢复。")
    return Path(path)


def _sqlite_copy(source: Path, target: Path, progress: Progress, what: str) -> None:
    """The online backup API: a consistent copy even while the service writes (it restarts on change)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(
            dst,
            pages=1024,
            progress=lambda _status, remaining, total: progress(total - remaining, total, what),
        )
    finally:
        dst.close()
        src.close()


# ---- restore ---------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{directory} 中没有 {MANIFEST}：这不是 helpdesk 备份目录。") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path} 无法读取：{exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise BackupError(
            f"{path} 的格式版本 {manifest.get('format') if isinstance(manifest, dict) else '?'} 不受支持（应为 {FORMAT_VERSION}）。"
        )
    for key in ("alembic_revision", "database", "database_file", "files"):
        if key not in manifest:
            raise BackupError(f"{path} 缺少字段 {key}。")
    return manifest


def verify(directory: Path, manifest: dict[str, Any], *, progress: Progress = _quiet) -> None:
    """Every file listed is there with its size and sha256, and nothing is outside the directory."""
    root = directory.resolve()
    problems: list[str] = []
    files = manifest["files"]
    for i, entry in enumerate(files, start=1):
        path = (root / str(entry["path"])).resolve()
        if root not in path.parents:
            problems.append(f"{entry['path']}：路径不在备份目录内")
        elif not path.is_file():
            problems.append(f"{entry['path']}：文件缺失")
        elif path.stat().st_size != entry["size"] or sha256_of(path) != entry["sha256"]:
            problems.append(f"{entry['path']}：校验和不符（文件已损坏或被改动）")
        progress(i, len(files), "校验备份文件")
    if not any(e["path"] == manifest["database_file"] for e in files):
        problems.append(f"{manifest['database_file']}：清单中没有数据库文件")
    if problems:
        shown = "；".join(problems[:5]) + (f"；另有 {len(problems) - 5} 处" if len(problems) > 5 else "")
        raise BackupError(f"备份校验失败，未做任何恢复：{shown}")


def restore(
    target: Target, directory: Path, *, force: bool = False, progress: Progress = _quiet
) -> dict[str, Any]:
    """Restore the backup in `directory` into `target`; returns the manifest.

    Checks first (manifest, checksums, database kind, empty targets), changes nothing until all pass.
    """
    directory = directory.resolve()
    manifest = read_manifest(directory)
    if manifest["database"] != target.kind:
        raise BackupError(
            f"备份来自 {manifest['database']} 数据库，目标是 {target.kind}（{target.shown}）：不能跨数据库类型恢复。"
        )
    verify(directory, manifest, progress=progress)
    tables = database_tables(target.database_url)
    present = _files_under(target.attachments_dir)
    if not force:
        if tables:
            raise BackupError(
                f"目标数据库 {target.shown} 不是空的（已有 {len(tables)} 张表）。"
                "请换一个空数据库，或确认要覆盖后加 --force。"
            )
        if present:
            raise BackupError(
                f"目标附件目录 {target.attachments_dir} 不是空的（已有 {len(present)} 个文件）。"
                "请换一个空目录，或确认要覆盖后加 --force。"
            )

    database_file = directory / manifest["database_file"]
    progress(0, 1, "恢复数据库")
    if target.kind == "sqlite":
        _restore_sqlite(database_file, _sqlite_path(target.database_url), progress)
    else:
        _restore_postgres(database_file, make_url(target.database_url), wipe=bool(tables))
    progress(1, 1, "恢复数据库")

    _restore_attachments(directory / ATTACHMENTS, target.attachments_dir, manifest, progress)

    revision = alembic_revision(target.database_url)
    if revision != manifest["alembic_revision"]:
        raise BackupError(
            f"恢复后数据库的迁移版本是 {revision}，与备份清单中的 {manifest['alembic_revision']} 不一致。"
        )
    return manifest


def _restore_sqlite(source: Path, target: Path, progress: Progress) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # the backup API replaces the target's whole content, pages and schema alike, under its lock
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(
            dst,
            pages=1024,
            progress=lambda _s, remaining, total: progress(total - remaining, total, "恢复数据库"),
        )
    finally:
        dst.close()
        src.close()


def _restore_postgres(dump: Path, url: URL, *, wipe: bool) -> None:
    if wipe:  # --force on a database with tables: start from an empty public schema
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    _run_pg(
        [
            str(pg_tool("pg_restore")),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            str(url.database),
            str(dump),
        ],
        url,
        "pg_restore 恢复数据库",
    )


def _restore_attachments(source: Path, target: Path, manifest: dict[str, Any], progress: Progress) -> None:
    for old in _files_under(target):
        old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    prefix = ATTACHMENTS + "/"
    entries = [e for e in manifest["files"] if str(e["path"]).startswith(prefix)]
    for i, entry in enumerate(entries, start=1):
        relative = str(entry["path"])[len(prefix) :]
        copy = target / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        # write beside, then rename: a half-copied file never carries an attachment's name
        fd, tmp = tempfile.mkstemp(dir=copy.parent, prefix=".tmp-")
        os.close(fd)
        shutil.copyfile(source / relative, tmp)
        os.replace(tmp, copy)
        progress(i, len(entries), "恢复附件")
