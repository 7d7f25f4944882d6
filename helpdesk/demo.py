"""`helpdesk demo`: a complete service on a fresh SQLite database, for a first look.

Demo users for each role, sample enterprises with accounts, qualifications and projects, sample
letters ingested through the real pipeline (parse -> letter -> ticket -> acknowledgement), a few
months of history for the dashboard, and the background jobs running in-process.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import click
from docx import Document
from flask import Flask
from werkzeug.serving import run_simple

from helpdesk import bootstrap, create_app, db
from helpdesk.auth import services as auth_services
from helpdesk.auth.models import Role, User
from helpdesk.letters import codes
from helpdesk.records.lookup import name_key
from helpdesk.records.models import Enterprise, PlatformAccount, ProjectApplication, Qualification

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = (
    ("agent", Role.AGENT, "王小客"),
    ("agent2", Role.AGENT, "陈二客"),
    ("supervisor", Role.SUPERVISOR, "李主管"),
    ("admin", Role.ADMIN, "赵管理"),
)

COMPANIES = (
    ("上海浦江进出口贸易有限公司", "310115", "上海市浦东新区"),
    ("宁波海曙喆达外贸有限公司", "330203", "宁波市海曙区"),
    ("深圳市鹏城镕信电子商务有限公司", "440305", "深圳市南山区"),
    ("青岛崂山海洋食品进出口有限公司", "370212", "青岛市崂山区"),
    ("厦门鹭岛轻工制品有限公司", "350203", "厦门市思明区"),
    ("广州穗丰纺织品进出口有限公司", "440106", "广州市天河区"),
)


def make_uscc(rng: random.Random, division: str) -> str:
    """A USCC with valid check characters (registration authority 9, type 1 = enterprise)."""
    body8 = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    org = body8 + codes.org_check_char(body8)
    body17 = "91" + division + org
    return body17 + codes.uscc_check_char(body17)


def run(_cli_app: Flask, *, host: str, port: int, serve: bool) -> None:
    instance = Path(_cli_app.instance_path)
    path = instance / "demo.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    app = create_app(
        overrides={
            "HELPDESK_DATABASE_URL": f"sqlite:///{path}",
            "HELPDESK_INSTANCE_DIR": str(instance),
            "HELPDESK_ATTACHMENTS_DIR": str(instance / "demo-attachments"),
        }
    )
    with app.app_context():
        bootstrap.init_database()
        notes = populate(app)
    click.echo(f"演示环境已就绪（全新 SQLite 数据库：{path}）：")
    for line in notes:
        click.echo("  " + line)
    click.echo("")
    click.echo(f"演示账号（密码均为 {DEMO_PASSWORD}）：")
    for username, role, name in DEMO_USERS:
        click.echo(f"  {username:<11} {role.label}（{name}）")
    if not serve:
        return
    from helpdesk import scheduler

    jobs = scheduler.build(app, blocking=False)
    jobs.start()
    click.echo(
        f"\n后台任务已在本进程运行（发信、SLA 提醒、OCR）。请在浏览器打开 http://{host}:{port}/ 登录。按 Ctrl+C 停止。"
    )
    try:
        # not app.run(): Flask ignores it inside a `flask`-style CLI command
        run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        jobs.shutdown(wait=False)


def populate(app: Flask, *, seed: int = 2026, history_days: int = 90) -> list[str]:
    """Fill an empty database with the demo content; returns what was created, in Chinese."""
    rng = random.Random(seed)
    users = [
        auth_services.create_user(u, DEMO_PASSWORD, role, display_name=name, email=f"{u}@helpdesk.demo")
        for u, role, name in DEMO_USERS
    ]
    enterprises = _records(rng)
    mails = sample_mails(enterprises, rng)
    from helpdesk.tickets import intake

    now = datetime.now(UTC)
    results = []
    for i, raw in enumerate(mails):
        received = now - timedelta(hours=2 * (len(mails) - i) + rng.randint(0, 50))
        results.append(intake.import_eml(raw, received_at=received))
    history = _history(app, enterprises, users, rng, history_days)
    created = sum(1 for r in results if r.outcome == "created")
    return [
        f"用户 {len(users)} 个（客服、主管、管理员）",
        f"企业 {len(enterprises)} 家，平台账号 {sum(len(e.accounts) for e in enterprises)} 个，含资质与申报项目",
        f"样例来信 {len(mails)} 封，经真实流程生成工单 {created} 张（含自动回执，在发件箱中）",
        f"近 {history_days} 天的历史工单 {history} 张（供 SLA 看板统计）",
    ]


def _records(rng: random.Random) -> list[Enterprise]:
    rows = []
    with db.unit_of_work() as s:
        for n, (name, division, division_name) in enumerate(COMPANIES):
            uscc = make_uscc(rng, division)
            ent = Enterprise(
                name=name,
                name_key=name_key(name),
                uscc=uscc,
                org_code=uscc[8:17],
                division_code=division,
                division_name=division_name,
                authority=f"{division_name}商务局",
                contact_name="联系人" + "甲乙丙丁戊己"[n],
                contact_phone=f"0571-8888{n:04d}",
                contact_email=f"contact{n}@example-corp{n}.cn",
            )
            s.add(ent)
            s.flush()
            count = 1 + (n % 3) + (1 if n < 4 else 0)
            for k in range(count):
                prefix = "zxkt_" if k == count - 1 and n % 2 else ""
                s.add(
                    PlatformAccount(
                        enterprise_id=ent.id,
                        account_name=f"{prefix}corp{n}_user{k + 1}",
                        app_bound=k == 0,
                        email=ent.contact_email if k == 0 else f"user{k}@example-corp{n}.cn",
                        mobile=f"1380000{n:02d}{k:02d}",
                    )
                )
            s.add(
                Qualification(
                    enterprise_id=ent.id,
                    fund_year=2026,
                    review_status=("已公示", "未公示", "未审核")[n % 3],
                    allow_modify=n % 2 == 0,
                    industry="批发和零售业",
                    main_business="进出口贸易",
                    headcount=20 + n,
                )
            )
            s.add(
                ProjectApplication(
                    enterprise_id=ent.id,
                    name=f"{2026}年境外展会项目-{n + 1}",
                    status="已受理",
                    fund_year=2026,
                    filed_company_name=name,
                    filed_division=division_name,
                )
            )
            rows.append(ent)
    for ent in rows:
        db.session.refresh(ent)
    return rows


def letter_docx(title: str, paragraphs: list[str]) -> bytes:
    doc = Document()
    heading = doc.add_paragraph()
    heading.alignment = 1
    run = heading.add_run(title)
    run.bold = True
    for text in paragraphs:
        doc.add_paragraph(text)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def licence_image(company: str, uscc: str) -> bytes:
    """A stand-in business-licence scan (JPEG) with the key lines a real one carries."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (1000, 700), "white")
    draw = ImageDraw.Draw(image)
    font_path = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    try:
        font = ImageFont.truetype(font_path, 34)
        small = ImageFont.truetype(font_path, 26)
    except OSError:
        font = small = ImageFont.load_default()
    draw.text((380, 40), "营业执照", fill="black", font=font)
    for i, line in enumerate(
        [
            f"统一社会信用代码 {uscc}",
            f"名称 {company}",
            "类型 有限责任公司",
            "法定代表人 张三",
            "注册资本 伍佰万元整",
            "成立日期 2015年03月18日",
            "登记机关 市场监督管理局",
        ]
    ):
        draw.text((80, 140 + i * 60), line, fill="black", font=small)
    draw.ellipse((700, 480, 880, 660), outline=(220, 30, 30), width=8)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _mail(
    sender: str, subject: str, body: str, attachments: list[tuple[str, str, bytes]], *, when: datetime
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "example.cn")
    msg.set_content(body)
    for name, mime, data in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def sample_mails(enterprises: list[Enterprise], rng: random.Random) -> list[bytes]:
    """Letters of every kind, as enterprises send them (docx letter, licence scan, plain mail)."""
    today = date.today()
    when = datetime.now(UTC)
    dated = f"{today.year}年{today.month}月{today.day}日"
    mails = []
    e0, e1, e2, e3, e4 = enterprises[:5]
    new_uscc = make_uscc(rng, e0.division_code)
    change = [
        "外贸发展专项资金（中小）网络管理应用项目组：",
        f"{e0.name}在商务部业务系统统一平台账号{e0.accounts[0].account_name}，由于注册时统一社会信用代码填写错误原因，"
        f"现申请更改商务部业务系统统一平台外贸发展专项资金（中小）网络管理应用统一社会信用代码，由{e0.uscc}变更为{new_uscc}，"
        "确认变更后对企业之前申报项目无影响。",
        "特此说明！",
        e0.name,
        dated,
    ]
    mails.append(
        _mail(
            e0.contact_email,
            f"变更说明-{e0.name}",
            "您好，附件是我司盖章的变更说明，请审核。",
            [
                (
                    "变更说明.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    letter_docx("变更说明", change),
                )
            ],
            when=when,
        )
    )
    names = [a.account_name for a in e1.accounts]
    unbind = [
        "外贸发展专项资金（中小）网络管理应用项目组：",
        f"{e1.name}在商务部业务系统统一平台存在{len(names)}个账号，账号信息分别是{'、'.join(names)}，由于项目无法申报原因，"
        f"现申请解绑{names[0]}，账号解绑后对企业之前申报项目无影响。",
        "特此说明！",
        e1.name,
        dated,
    ]
    mails.append(
        _mail(
            e1.contact_email,
            "解绑说明",
            "附件为解绑说明及营业执照扫描件。",
            [
                (
                    "解绑说明.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    letter_docx("解绑说明", unbind),
                ),
                ("营业执照.jpg", "image/jpeg", licence_image(e1.name, e1.uscc or "")),
            ],
            when=when,
        )
    )
    names = [a.account_name for a in e2.accounts]
    cancel = [
        "外贸发展专项资金（中小）网络管理应用项目组：",
        f"{e2.name}在商务部业务系统统一平台存在{len(names)}个账号，账号信息分别是{'、'.join(names)}，由于资质审核异常原因，"
        f"现申请注销{names[-1]}，账号注销后对企业之前申报项目无影响。",
        "特此说明！",
        e2.name,
        dated,
    ]
    mails.append(
        _mail(
            e2.contact_email,
            "注销说明（请处理）",
            "注销说明见附件。营业执照稍后补发。",
            [
                (
                    "注销说明.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    letter_docx("注销说明", cancel),
                )
            ],
            when=when,
        )
    )
    mails.append(
        _mail(
            e3.contact_email,
            "忘记平台账号，请帮忙找回",
            f"您好，我公司{e3.name}（统一社会信用代码{e3.uscc}）忘记了商务部业务系统统一平台的账号，请帮忙找回。谢谢！",
            [],
            when=when,
        )
    )
    mails.append(
        _mail(
            "someone@163.com",
            "请问资金拨付申请表在哪里打印？",
            "您好，请问企业登记表、资金拨付申请表在系统哪里打印？我们用的是360浏览器。",
            [],
            when=when,
        )
    )
    return mails


def _history(
    app: Flask, enterprises: list[Enterprise], users: list[User], rng: random.Random, days: int
) -> int:
    """Tickets of the last `days` days with realistic outcomes, built through the clock and status helpers."""
    from helpdesk.sla import clock
    from helpdesk.tickets import lifecycle
    from helpdesk.tickets.models import Ticket, TicketStatus

    agents = [u for u in users if u.role == Role.AGENT.value]
    now = datetime.now(UTC)
    count = 0
    types = ["change"] * 5 + ["unbind"] * 3 + ["cancel"] * 2 + ["recovery"] * 2 + ["inquiry"] * 3
    with db.unit_of_work() as s:
        for day in range(days, 0, -1):
            for _ in range(rng.randint(1, 5)):
                received = now - timedelta(days=day, hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
                ent = rng.choice(enterprises)
                agent = rng.choice(agents)
                ticket = Ticket(
                    type=rng.choice(types),
                    status=TicketStatus.NEW.value,
                    subject=f"历史来信：{ent.name}",
                    requester_email=ent.contact_email,
                    enterprise_id=ent.id,
                    received_at=received,
                    created_at=received,
                    letter=None,
                    fields={"company_name": ent.name},
                )
                s.add(ticket)
                s.flush()
                clock.start(ticket, received)
                lifecycle.record(
                    ticket,
                    "created",
                    new=ticket.type,
                    at=received,
                    detail={"due_at": ticket.due_at.isoformat() if ticket.due_at else None},
                )
                t = received + timedelta(hours=rng.uniform(0.2, 6))
                ticket.assignee_id = agent.id
                lifecycle.record(ticket, "assigned", by=agent, field="assignee", new=agent.id, at=t)
                lifecycle.change_status(ticket, TicketStatus.OPEN, by=agent, at=t)
                if rng.random() < 0.25:  # waited on the enterprise for a while
                    lifecycle.change_status(ticket, TicketStatus.WAITING, by=agent, at=t + timedelta(hours=1))
                    t = t + timedelta(hours=rng.uniform(5, 60))
                    lifecycle.change_status(ticket, TicketStatus.OPEN, by=None, at=t, reason="企业回复")
                done = t + timedelta(hours=rng.choice([2, 5, 20, 26, 40, 70, 90]))
                if done < now and day > 2:
                    outcome = TicketStatus.REJECTED if rng.random() < 0.1 else TicketStatus.RESOLVED
                    if ticket.due_at and done > ticket.due_at:
                        clock.mark_notified(ticket, warned_at=ticket.warn_at, breached_at=ticket.due_at)
                    lifecycle.record(
                        ticket, "resolution", by=agent, at=done, detail={"summary": "已按来函办理"}
                    )
                    lifecycle.change_status(ticket, outcome, by=agent, at=done)
                    if rng.random() < 0.05 and done + timedelta(days=1) < now:  # reopened by a reply
                        lifecycle.change_status(
                            ticket, TicketStatus.OPEN, by=None, at=done + timedelta(days=1)
                        )
                count += 1
    return count
