"""Checks an agent would otherwise do by hand, from the letter alone (no records).

Each function takes what `reader.read` assembled and returns Findings (pass / fail / unknown, with
one Chinese sentence). Checks against the records (company name, account ownership) belong to the
records package, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from helpdesk.vocabulary import FIELD_LABELS

from .codes import (
    USCC_ALPHABET,
    CodeMatch,
    embedded_org_code,
    org_check_char,
    uscc_check_char,
    uscc_checksum_ok,
)
from .model import Field, Finding
from .sources import Source
from .view import Placeholder

LETTER_KINDS = ("change", "unbind", "cancel")
KIND_NAMES = {"change": "变更说明", "unbind": "解绑说明", "cancel": "注销说明"}


@dataclass
class Context:
    """Everything the checks look at."""

    type: str
    fields: list[Field]
    sources: list[Source]
    codes: list[tuple[str, CodeMatch]]  #: (source label, match), valid or not
    placeholders: list[Placeholder]  #: left in the main letter source
    seal: tuple[str, str]  #: (verdict, reason)
    has_licence: bool | None
    letter_label: str | None  #: the main letter source ("attachment:…" or "body")
    letter_unread: bool  #: a file that may be the letter or licence could not be read
    today: date
    max_age_days: int
    ocr_state: str | None = None  #: None, "pending", "unavailable", "timeout"
    ocr_errors: list[str] = field(default_factory=list)
    #: other readings of the company name: (value, where it was read: signature, licence ...)
    company_alts: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def all_findings(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    out += attachment_problems(ctx)
    out += ocr_status(ctx)
    out += code_checks(ctx)
    out += org_code_consistency(ctx)
    if ctx.type in LETTER_KINDS:
        out += required_attachments(ctx)
        out += required_fields(ctx)
        out += seal(ctx)
        out += letter_date(ctx)
        out += template_blanks(ctx)
        out += company_consistency(ctx)
    if ctx.type in ("unbind", "cancel"):
        out += accounts(ctx)
    if ctx.type == "change":
        out += change_values(ctx)
    return out


def attachment_problems(ctx: Context) -> list[Finding]:
    out = []
    for s in ctx.sources:
        if s.problem_code in (None, "ocr_unavailable", "ocr_timeout", "ocr_error"):
            continue
        status = "unknown" if s.problem_code in ("truncated", "format") else "fail"
        out.append(Finding("attachment_problem", status, f"附件《{s.filename}》：{s.problem}"))
    return out


def ocr_status(ctx: Context) -> list[Finding]:
    if ctx.ocr_state == "unavailable":
        return [Finding("ocr", "unknown", "OCR 不可用：扫描件未识别，请人工查看附件")]
    if ctx.ocr_state == "timeout":
        return [Finding("ocr", "unknown", "OCR 超时：部分扫描件未识别，请人工查看附件")]
    if ctx.ocr_state == "pending":
        return [Finding("ocr", "unknown", "扫描件尚未识别（稍后自动识别）")]
    return [Finding("ocr", "unknown", f"OCR 出错：{e}") for e in ctx.ocr_errors]


def _uscc_why(value: str) -> str:
    if len(value) != 18:
        return f"长度为 {len(value)} 位，应为 18 位"
    bad = [c for c in value if c not in USCC_ALPHABET]
    if bad:
        return f"含有代码中不允许出现的字符“{'、'.join(dict.fromkeys(bad))}”"
    if not uscc_checksum_ok(value):
        return f"第 18 位校验码应为“{uscc_check_char(value[:17])}”，实为“{value[17]}”"
    return f"其中第 9-17 位组织机构代码校验未通过（第 17 位应为“{org_check_char(value[8:16])}”）"


def code_checks(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    old = ctx.get("old_value")
    new = ctx.get("new_value")
    for label, c in ctx.codes:
        if c.value in seen:
            continue
        seen.add(c.value)
        what = "统一社会信用代码" if c.kind == "uscc" else "组织机构代码"
        code = "uscc_checksum" if c.kind == "uscc" else "org_code_checksum"
        shown = c.value if c.kind == "uscc" else f"{c.value[:8]}-{c.value[8:]}"
        fld = c.kind
        if old is not None and str(old.value).replace("-", "") == c.value:
            fld = "old_value"
        elif new is not None and str(new.value).replace("-", "") == c.value:
            fld = "new_value"
        where = _where(label)
        if c.valid and c.repaired:
            out.append(
                Finding(
                    code,
                    "pass",
                    f"{where}中的{what}原文“{c.original}”有一位无法识别或有误，经校验码唯一确定为 {shown}，请核对原件",
                    fld,
                )
            )
        elif c.valid:
            out.append(Finding(code, "pass", f"{where}中的{what} {shown} 校验通过", fld))
        else:
            why = _uscc_why(c.value) if c.kind == "uscc" else "校验码不符"
            if fld == "old_value":
                out.append(
                    Finding(
                        code,
                        "unknown",
                        f"变更前的{what} {shown} 校验未通过（{why}），与“原代码有误”的说明相符",
                        fld,
                    )
                )
            else:
                out.append(Finding(code, "fail", f"{where}中的{what} {shown} 校验未通过：{why}", fld))
    return out


def org_code_consistency(ctx: Context) -> list[Finding]:
    orgs = [f for f in ctx.fields if f.name == "org_code"]
    usccs = [f for f in ctx.fields if f.name == "uscc"]
    if not orgs or not usccs:
        return []
    embedded = {embedded_org_code(u.value): u.value for u in usccs}
    out = []
    for o in orgs:
        if o.value in embedded:
            out.append(
                Finding(
                    "org_code_consistent",
                    "pass",
                    f"组织机构代码 {o.value} 与统一社会信用代码 {embedded[o.value]} 第 9-17 位一致",
                    "org_code",
                )
            )
        else:
            shown = "、".join(f"{u.value}（第 9-17 位 {embedded_org_code(u.value)}）" for u in usccs)
            out.append(
                Finding(
                    "org_code_consistent",
                    "fail",
                    f"组织机构代码 {o.value} 与统一社会信用代码 {shown} 不一致",
                    "org_code",
                )
            )
    return out


def required_attachments(ctx: Context) -> list[Finding]:
    name = KIND_NAMES[ctx.type]
    letter_attached = ctx.letter_label is not None and ctx.letter_label.startswith("attachment:")
    missing: list[str] = []
    unsure: list[str] = []
    if not letter_attached:
        (unsure if ctx.letter_unread else missing).append(f"盖章的《{name}》")
    if ctx.type in ("unbind", "cancel"):
        if ctx.has_licence is None:
            unsure.append("营业执照加盖公章扫描件")
        elif not ctx.has_licence:
            (unsure if ctx.letter_unread else missing).append("营业执照加盖公章扫描件")
    if missing:
        extra = (
            "（说明写在邮件正文中，需另附盖章件）"
            if ctx.letter_label == "body" and f"盖章的《{name}》" in missing
            else ""
        )
        return [Finding("required_attachments", "fail", f"缺少{'、'.join(missing)}{extra}")]
    if unsure:
        return [
            Finding(
                "required_attachments",
                "unknown",
                f"附件未能识别，无法确认是否附有{'、'.join(unsure)}，请人工查看",
            )
        ]
    need = f"《{name}》" + ("和营业执照扫描件" if ctx.type in ("unbind", "cancel") else "")
    return [Finding("required_attachments", "pass", f"已附{need}")]


def required_fields(ctx: Context) -> list[Finding]:
    need = ["company_name"]
    if ctx.type == "change":
        if ctx.get("new_value") is None:
            need.append("modification")
    else:
        need.append("target_accounts")
    missing = [FIELD_LABELS[n] for n in need if ctx.get(n) is None]
    if missing:
        return [
            Finding(
                "required_fields",
                "fail" if ctx.letter_label else "unknown",
                f"未能读出：{'、'.join(missing)}",
            )
        ]
    return [Finding("required_fields", "pass", "公司名称和申请事项均已读出")]


def seal(ctx: Context) -> list[Finding]:
    verdict, reason = ctx.seal
    status = {"seal": "pass", "none": "fail"}.get(verdict, "unknown")
    return [Finding("seal", status, reason, "seal")]


def letter_date(ctx: Context) -> list[Finding]:
    f = ctx.get("letter_date")
    if f is None:
        return [Finding("letter_date", "unknown", "未找到落款日期", "letter_date")]
    day = date.fromisoformat(f.value)
    if day > ctx.today:
        return [
            Finding(
                "letter_date",
                "fail",
                f"落款日期 {f.value} 晚于今天（{ctx.today.isoformat()}）",
                "letter_date",
            )
        ]
    if day < ctx.today - timedelta(days=ctx.max_age_days):
        return [
            Finding(
                "letter_date",
                "fail",
                f"落款日期 {f.value} 已超过 {ctx.max_age_days} 天，请企业重新出具",
                "letter_date",
            )
        ]
    return [Finding("letter_date", "pass", f"落款日期 {f.value} 合理", "letter_date")]


def template_blanks(ctx: Context) -> list[Finding]:
    if not ctx.placeholders:
        return [Finding("template_blanks", "pass", "未发现未填写的模板空白")]
    unfilled = [p for p in ctx.placeholders if p.field is not None and ctx.get(p.field) is None]
    if unfilled:
        shown = "、".join(dict.fromkeys(p.shown or p.text for p in unfilled))
        return [Finding("template_blanks", "fail", f"模板空白未填写：{shown}")]
    shown = "、".join(dict.fromkeys(p.shown or p.text for p in ctx.placeholders))
    return [Finding("template_blanks", "pass", f"模板提示文字未删除（{shown}），但对应内容已填写")]


def company_consistency(ctx: Context) -> list[Finding]:
    main = ctx.get("company_name")
    if main is None or not ctx.company_alts:
        return []
    differ = [(v, where) for v, where in ctx.company_alts if _bare(v) != _bare(main.value)]
    if not differ:
        wheres = "、".join(dict.fromkeys(where for _, where in ctx.company_alts))
        return [Finding("company_name_consistent", "pass", f"公司名称与{wheres}一致", "company_name")]
    shown = "、".join(f"“{v}”（{where}）" for v, where in differ)
    return [
        Finding("company_name_consistent", "fail", f"公司名称“{main.value}”与{shown}不一致", "company_name")
    ]


def _bare(name: str) -> str:
    return name.replace("(", "").replace(")", "").replace(" ", "")


def accounts(ctx: Context) -> list[Finding]:
    out = []
    count = ctx.get("account_count")
    names = ctx.get("account_names")
    targets = ctx.get("target_accounts")
    listed = names.value if names is not None and names.confidence >= 0.8 else None
    if count is not None and listed is not None:
        if count.value == len(listed):
            out.append(
                Finding(
                    "account_count",
                    "pass",
                    f"写明 {count.value} 个账号，并列出了 {len(listed)} 个",
                    "account_count",
                )
            )
        else:
            out.append(
                Finding(
                    "account_count",
                    "fail",
                    f"写明 {count.value} 个账号，但列出了 {len(listed)} 个：{'、'.join(listed)}",
                    "account_count",
                )
            )
    elif count is not None and names is not None:  # listed, but read with little confidence
        out.append(
            Finding(
                "account_count",
                "unknown",
                f"写明 {count.value} 个账号，读出 {len(names.value)} 个（{'、'.join(names.value)}），识别不确定，请核对原件",
                "account_count",
            )
        )
    elif count is not None:
        out.append(
            Finding(
                "account_count", "unknown", f"写明 {count.value} 个账号，但未列出账号信息", "account_count"
            )
        )
    n = count.value if count is not None else (len(listed) if listed else None)
    verb = "解绑" if ctx.type == "unbind" else "注销"
    if n is None:
        out.append(Finding("several_accounts", "unknown", "未写明企业共有几个账号", "account_count"))
    elif n >= 2:
        out.append(
            Finding("several_accounts", "pass", f"企业称有 {n} 个账号，可以{verb}其中之一", "account_count")
        )
    else:
        out.append(
            Finding(
                "several_accounts",
                "fail",
                f"企业称只有 {n} 个账号；{verb}仅适用于有多个账号的企业",
                "account_count",
            )
        )
    if targets is None:
        out.append(Finding("target_listed", "fail", f"未写明要{verb}的账号", "target_accounts"))
    elif listed is not None:
        outside = [t for t in targets.value if t not in listed]
        if outside:
            out.append(
                Finding(
                    "target_listed",
                    "fail",
                    f"要{verb}的账号 {'、'.join(outside)} 不在所列账号中",
                    "target_accounts",
                )
            )
        elif len(targets.value) >= len(listed):
            out.append(
                Finding(
                    "target_listed",
                    "fail",
                    f"申请{verb}全部所列账号，企业将不再有可用账号",
                    "target_accounts",
                )
            )
        else:
            out.append(
                Finding(
                    "target_listed",
                    "pass",
                    f"要{verb}的账号 {'、'.join(targets.value)} 在所列账号中",
                    "target_accounts",
                )
            )
    return out


def change_values(ctx: Context) -> list[Finding]:
    old = ctx.get("old_value")
    new = ctx.get("new_value")
    if old is not None and new is not None and old.value == new.value:
        return [Finding("change_values", "fail", f"变更前后的值相同：{new.value}", "new_value")]
    return []


def _where(label: str) -> str:
    if label.startswith("attachment:"):
        return f"附件《{label.split(':', 1)[1]}》"
    return {"body": "邮件正文", "subject": "邮件主题", "filename": "附件名"}.get(label, label)
