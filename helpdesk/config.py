"""Settings from HELPDESK_* environment variables, validated once at start.

Every setting is listed in `VARIABLES` (the README table is generated from the same list), so a
bad value fails at start with a message naming the variable, never later inside a request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(ValueError):
    """A HELPDESK_* variable has a value we cannot use."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true/false")


def _port(raw: str) -> int:
    port = int(raw)
    if not 0 < port < 65536:
        raise ValueError("expected a port number 1-65535")
    return port


def _count(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 5:
        raise ValueError("expected 0 to 5")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _days_or_off(raw: str) -> int:
    """A number of days, or 0 for "off" (empty, 0 or off)."""
    value = raw.strip().lower()
    if value in {"", "0", "off"}:
        return 0
    return _positive_int(value)


def _log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"kv", "json"}:
        raise ValueError("expected kv or json")
    return value


def _security(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"none", "starttls", "ssl"}:
        raise ValueError("expected none, starttls or ssl")
    return value


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone") from exc
    return raw


def _database_url(raw: str) -> str:
    if not raw.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:")):
        raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
    if raw.startswith("postgresql://"):
        # SQLAlchemy would pick psycopg2, which we do not install
        raw = "postgresql+psycopg://" + raw.removeprefix("postgresql://")
    return raw


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    parse: Callable[[str], object]
    doc: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "HELPDESK_DATABASE_URL",
        None,
        _database_url,
        "数据库地址；默认实例目录下的 SQLite 文件 `helpdesk.sqlite3`。生产用 `postgresql+psycopg://user:pw@host/db`",
    ),
    Variable(
        "HELPDESK_SECRET_KEY",
        None,
        str,
        "会话签名密钥；未设置时自动生成并保存在实例目录 `secret_key`（不入库）",
    ),
    Variable("HELPDESK_INSTANCE_DIR", None, str, "实例目录（SQLite 文件、密钥、附件）；默认 `./instance`"),
    Variable(
        "HELPDESK_ATTACHMENTS_DIR", None, str, "附件存放目录（按内容哈希命名）；默认 `<实例目录>/attachments`"
    ),
    Variable("HELPDESK_IMAP_HOST", "", str, "收件 IMAP 服务器；为空则不收信"),
    Variable("HELPDESK_IMAP_PORT", "993", _port, "IMAP 端口"),
    Variable("HELPDESK_IMAP_USER", "", str, "IMAP 用户名"),
    Variable("HELPDESK_IMAP_PASSWORD", "", str, "IMAP 密码"),
    Variable("HELPDESK_IMAP_FOLDER", "INBOX", str, "收件文件夹"),
    Variable("HELPDESK_IMAP_PROCESSED_FOLDER", "", str, "已处理邮件移入的文件夹；为空则只加标记不移动"),
    Variable("HELPDESK_IMAP_SSL", "ssl", _security, "`ssl`、`starttls` 或 `none`"),
    Variable("HELPDESK_IMAP_POLL_SECONDS", "60", _positive_int, "轮询间隔（秒）"),
    Variable("HELPDESK_SMTP_HOST", "", str, "发信 SMTP 服务器；为空则邮件留在发件箱"),
    Variable("HELPDESK_SMTP_PORT", "465", _port, "SMTP 端口"),
    Variable("HELPDESK_SMTP_USER", "", str, "SMTP 用户名（为空不认证）"),
    Variable("HELPDESK_SMTP_PASSWORD", "", str, "SMTP 密码"),
    Variable("HELPDESK_SMTP_SSL", "ssl", _security, "`ssl`、`starttls` 或 `none`"),
    Variable("HELPDESK_SMTP_FROM", "zxzj@ec.com.cn", str, "发件地址（也是我们自己的地址，用于防回环）"),
    Variable("HELPDESK_TIMEZONE", "Asia/Shanghai", _timezone, "业务时区"),
    Variable("HELPDESK_MAX_ATTACHMENT_MB", "20", _positive_int, "单个附件上限（MB），超出的附件在工单上注明"),
    Variable("HELPDESK_REPLY_MAX_FILES", "5", _positive_int, "一封回复最多可带的附件个数（含说明函模板）"),
    Variable("HELPDESK_REPLY_MAX_MB", "10", _positive_int, "一封回复所带附件的总大小上限（MB）"),
    Variable("HELPDESK_SECURE_COOKIES", "false", _bool, "仅通过 HTTPS 发送会话 Cookie（生产环境设为 true）"),
    Variable(
        "HELPDESK_LEASE_SECONDS",
        "60",
        _positive_int,
        "后台任务租约与邮件认领的时长（秒）：进程被杀后，SQLite 上最多这么久释放它占用的任务（PostgreSQL 用咨询锁，连接断开即释放）",
    ),
    Variable("HELPDESK_INGEST_RETRY_SECONDS", "600", _positive_int, "重试未入库邮件的间隔（秒）"),
    Variable(
        "HELPDESK_PARSE_SECONDS",
        "8",
        _positive_int,
        "每封邮件解析和读取说明函的时限（秒）；超时的部分标为无法读取，原始邮件附在工单上",
    ),
    Variable("HELPDESK_PARSE_MEMORY_MB", "1024", _positive_int, "解析邮件的子进程内存上限（MB）"),
    Variable(
        "HELPDESK_NOTIFY_BY_MAIL",
        "false",
        _bool,
        "除站内通知外，也把“企业回复、分配给我、待审批、审批结果”的通知发到客服的邮箱",
    ),
    Variable(
        "HELPDESK_RETENTION_DAYS",
        "",
        _days_or_off,
        "已关闭工单的个人信息（原始邮件、附件、营业执照扫描件、邮件正文）保留天数，过期由后台任务删除；为空或 0 表示不删除",
    ),
    Variable(
        "HELPDESK_LOG_FORMAT",
        "kv",
        _log_format,
        "日志格式：`kv`（每行 key=value）或 `json`（每行一个 JSON 对象）",
    ),
    Variable(
        "HELPDESK_READY_POLL_MINUTES",
        "10",
        _positive_int,
        "/readyz：配置了收信邮箱时，最近一次成功收信距今超过这么多分钟即为未就绪",
    ),
    Variable(
        "HELPDESK_READY_OUTBOX_MINUTES",
        "30",
        _positive_int,
        "/readyz：发件箱中最早一封未发邮件等待超过这么多分钟即为未就绪",
    ),
    Variable("HELPDESK_METRICS", "false", _bool, "开放 Prometheus 指标 `/metrics`（默认关闭）"),
    Variable(
        "HELPDESK_METRICS_TOKEN",
        "",
        str,
        "`/metrics` 的访问令牌（请求头 `Authorization: Bearer …`）；为空则只允许本机（127.0.0.1 / ::1）访问",
    ),
    Variable(
        "HELPDESK_TRUSTED_PROXIES",
        "0",
        _count,
        "前面有几层反向代理（nginx 为 1）：据此从 X-Forwarded-For 取客户端地址（登录限流、登录设备、/metrics 仅本机）；直连时为 0",
    ),
)


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, object] = field(default_factory=dict)
    instance_dir: Path = Path("instance")

    def __getitem__(self, name: str) -> object:
        return self.values[name]

    @property
    def database_url(self) -> str:
        return str(self.values["HELPDESK_DATABASE_URL"])

    @property
    def attachments_dir(self) -> Path:
        return Path(str(self.values["HELPDESK_ATTACHMENTS_DIR"]))

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(str(self.values["HELPDESK_TIMEZONE"]))


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Read, validate and complete the settings; raises ConfigError naming the bad variable."""
    env = dict(os.environ if environ is None else environ)
    env.update({k: str(v) for k, v in (overrides or {}).items()})
    values: dict[str, object] = {}
    for var in VARIABLES:
        raw = env.get(var.name, var.default)
        if raw is None:
            values[var.name] = None
            continue
        try:
            values[var.name] = var.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"环境变量 {var.name} 的值 {raw!r} 无效：{exc}") from None
    instance_dir = Path(str(values["HELPDESK_INSTANCE_DIR"] or "instance")).resolve()
    try:
        instance_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"环境变量 HELPDESK_INSTANCE_DIR 指向的目录无法创建：{exc}") from None
    if not values["HELPDESK_DATABASE_URL"]:
        values["HELPDESK_DATABASE_URL"] = f"sqlite:///{instance_dir / 'helpdesk.sqlite3'}"
    if not values["HELPDESK_ATTACHMENTS_DIR"]:
        values["HELPDESK_ATTACHMENTS_DIR"] = str(instance_dir / "attachments")
    if not values["HELPDESK_SECRET_KEY"]:
        values["HELPDESK_SECRET_KEY"] = _stored_secret_key(instance_dir)
    return Settings(values=values, instance_dir=instance_dir)


def _stored_secret_key(instance_dir: Path) -> str:
    path = instance_dir / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting at once agree on one key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()
