"""The record changes that resolve a letter: change, unbind, cancel, recovery.

Each function validates its preconditions (DESIGN.md section 5), changes the records, writes one
audit entry per changed field and flushes; it never commits. The caller (tickets.resolve) wraps it
with the ticket's status, event and reply in one transaction, so a refused precondition or any
later failure leaves nothing changed.

    applied = apply_unbind(enterprise, "zxkt_acme", actor=agent, ticket_id=42)
    applied.summary      # "解绑账号 zxkt_acme 的外贸发展专项资金（中小）网络管理应用"
    applied.changes      # (Change(entity="account", field="app_bound", before="已绑定", after="未绑定"),)

A refused precondition raises `PreconditionFailed` with a Chinese message naming the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select

from helpdesk.db import lock_row, session, utcnow
from helpdesk.records import checks
from helpdesk.records.keys import account_key, account_variants, name_key
from helpdesk.records.lookup import normalize_org_code, normalize_uscc
from helpdesk.records.models import (
    AuditEntry,
    Enterprise,
    PlatformAccount,
    ProjectApplication,
    Qualification,
)
from helpdesk.vocabulary import TYPE_LABELS

#: rule code -> the rule as the agent reads it
RULES = {
    "change.nothing": "变更须有实际修改内容",
    "change.codes_valid": "新代码须通过国家标准校验",
    "change.org_matches_uscc": "组织机构代码须与统一社会信用代码第 9-17 位一致",
    "change.uscc_free": "新统一社会信用代码不得已被其他企业使用",
    "change.org_free": "新组织机构代码不得已被其他企业使用",
    "change.old_codes_match": "来函所述原代码须与档案一致",
    "change.company_matches": "来函企业名称须与档案一致",
    "change.projects": "以原企业名称、行政区划申报的项目须先删除（FAQ 企业资质如何修改 情况三）",
    "change.qualification_locked": "资质已公示时须先开通“允许修改资料”（FAQ 企业资质如何修改 情况二）",
    "accounts.more_than_one": "解绑、注销须企业有一个以上有效账号",
    "account.exists": "账号须在档案中存在",
    "account.belongs": "账号须属于该企业",
    "account.active": "账号须未注销",
    "unbind.holds_binding": "所解绑的账号须正绑定外贸发展专项资金（中小）网络管理应用",
    "recovery.has_accounts": "企业须有有效账号",
}

FIELD_LABELS = {
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "name": "企业名称",
    "division_code": "行政区划代码",
    "division_name": "行政区划",
    "industry": "所属行业",
    "main_business": "主营业务",
    "headcount": "从业人数",
    "review_status": "资质审核状态",
    "app_bound": "应用绑定",
    "status": "账号状态",
    "accounts": "告知账号",
}
#: a resolution is named as the ticket type it resolves
ACTION_LABELS = {t: TYPE_LABELS[t] for t in ("change", "unbind", "cancel", "recovery")} | {"import": "导入"}
BOUND, UNBOUND = "已绑定", "未绑定"
ACTIVE, CANCELLED = "正常", "已注销"
APP = "外贸发展专项资金（中小）网络管理应用"


class Actor(Protocol):
    id: int


class PreconditionFailed(Exception):
    """A resolution refused before anything changed; `str()` is the Chinese message for the agent."""

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        super().__init__(f"不能办理：{detail}（规则：{RULES[rule]}）")

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True)
class Change:
    entity: str  #: enterprise / account / qualification
    entity_id: str
    field: str
    before: str | None
    after: str | None

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a resolution did: a one-line summary, the field changes, and for recovery the accounts."""

    action: str
    summary: str
    changes: tuple[Change, ...] = ()
    accounts: tuple[tuple[str, bool], ...] = ()  #: recovery: (account name, holds the binding)
    notes: tuple[str, ...] = ()  #: extra sentences for the reply (Chinese)


# ------------------------------------------------------------------------------------------ helpers


def _lock(enterprise: Enterprise) -> Enterprise:
    """Re-read the enterprise and its accounts under a row lock (PostgreSQL; SQLite serialises writers)."""
    fresh = lock_row(Enterprise, enterprise.id)
    session.execute(
        select(PlatformAccount)
        .where(PlatformAccount.enterprise_id == fresh.id)
        .order_by(PlatformAccount.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalars().all()
    session.expire(fresh, ["accounts"])
    return fresh


def active_accounts(enterprise: Enterprise) -> list[PlatformAccount]:
    """The enterprise's accounts that are not cancelled, the bound one first."""
    rows = [a for a in enterprise.accounts if a.status == "active"]
    return sorted(rows, key=lambda a: (not a.app_bound, a.id))


def latest_qualification(enterprise: Enterprise) -> Qualification | None:
    return session.scalar(
        select(Qualification)
        .where(Qualification.enterprise_id == enterprise.id)
        .order_by(Qualification.fund_year.desc())
        .limit(1)
    )


def _audit(
    changes: list[Change], *, action: str, enterprise: Enterprise, actor: Actor | None, ticket_id: int | None,
    detail: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    now = utcnow()
    for c in changes:
        session.add(
            AuditEntry(
                at=now, actor_id=actor.id if actor else None, ticket_id=ticket_id, enterprise_id=enterprise.id,
                action=action, entity=c.entity, entity_id=c.entity_id, field=c.field, before=c.before,
                after=c.after, detail=detail,
            )
        )  # fmt: skip


def _find_account(enterprise: Enterprise, account_name: str) -> PlatformAccount:
    """The enterprise's account `account_name` (with or without zxkt_), or PreconditionFailed."""
    wanted = account_variants(account_name)
    if not wanted:
        raise PreconditionFailed("account.exists", "没有填写要办理的账号")
    own = [a for a in enterprise.accounts if a.account_name in wanted]
    exact = account_key(account_name)
    own.sort(key=lambda a: (a.account_name != exact, a.status != "active"))
    if own:
        return own[0]
    other = session.scalar(select(PlatformAccount).where(PlatformAccount.account_name.in_(wanted)).limit(1))
    if other is not None:
        raise PreconditionFailed(
            "account.belongs",
            f"账号 {other.account_name} 属于“{other.enterprise.name}”，不属于“{enterprise.name}”",
        )
    raise PreconditionFailed("account.exists", f"账号 {exact} 在档案中不存在")


def _require_several(enterprise: Enterprise, verb: str) -> list[PlatformAccount]:
    active = active_accounts(enterprise)
    if len(active) <= 1:
        held = f"只有 1 个有效账号（{active[0].account_name}）" if active else "没有有效账号"
        raise PreconditionFailed("accounts.more_than_one", f"“{enterprise.name}”{held}，不能{verb}")
    return active


# ------------------------------------------------------------------------------------------ change


CODE_FIELDS = ("uscc", "org_code")
ENTERPRISE_FIELDS = ("name", "division_code", "division_name")
QUALIFICATION_FIELDS = ("industry", "main_business", "headcount")


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def plan_change(
    enterprise: Enterprise,
    *,
    new_uscc: str | None = None,
    new_org_code: str | None = None,
    new_name: str | None = None,
    new_division_code: str | None = None,
    new_division_name: str | None = None,
    industry: str | None = None,
    main_business: str | None = None,
    headcount: int | str | None = None,
    old_uscc: str | None = None,
    old_org_code: str | None = None,
    company_name: str | None = None,
) -> dict[str, Any]:
    """Validate a change against the records; the new values by field (only real changes).

    Raises PreconditionFailed. Reads only: used to check a change before it is applied.
    """
    new: dict[str, Any] = {}
    uscc = normalize_uscc(_clean(new_uscc) or "") or None
    org = normalize_org_code(_clean(new_org_code) or "") or None
    if uscc:
        problem = checks.uscc_problem(uscc)
        if problem:
            raise PreconditionFailed("change.codes_valid", problem)
    if org:
        problem = checks.org_code_problem(org)
        if problem:
            raise PreconditionFailed("change.codes_valid", problem)
    if uscc and org and org != uscc[8:17]:
        raise PreconditionFailed(
            "change.org_matches_uscc",
            f"新组织机构代码 {org} 与新统一社会信用代码第 9-17 位（{uscc[8:17]}）不同",
        )
    if uscc and not org:
        org = uscc[8:17]  # GB 32100: the organisation code is part of the USCC
    if org and not uscc and enterprise.uscc and org != enterprise.uscc[8:17]:
        raise PreconditionFailed(
            "change.org_matches_uscc",
            f"新组织机构代码 {org} 与档案中统一社会信用代码 {enterprise.uscc} 的第 9-17 位不同；"
            "如统一社会信用代码也有误，请一并变更",
        )
    stated_uscc = normalize_uscc(_clean(old_uscc) or "")
    if stated_uscc and stated_uscc != (enterprise.uscc or ""):
        raise PreconditionFailed(
            "change.old_codes_match",
            f"来函所述原统一社会信用代码 {stated_uscc} 与档案（{enterprise.uscc or '空'}）不一致",
        )
    stated_org = normalize_org_code(_clean(old_org_code) or "")
    if stated_org and stated_org != (enterprise.org_code or ""):
        raise PreconditionFailed(
            "change.old_codes_match",
            f"来函所述原组织机构代码 {stated_org} 与档案（{enterprise.org_code or '空'}）不一致",
        )
    if uscc and uscc != enterprise.uscc:
        holder = session.scalar(
            select(Enterprise).where(Enterprise.uscc == uscc, Enterprise.id != enterprise.id)
        )
        if holder is not None:
            raise PreconditionFailed("change.uscc_free", f"统一社会信用代码 {uscc} 已属于“{holder.name}”")
        new["uscc"] = uscc
    if org and org != enterprise.org_code:
        holder = session.scalar(
            select(Enterprise).where(Enterprise.org_code == org, Enterprise.id != enterprise.id).limit(1)
        )
        if holder is not None:
            raise PreconditionFailed("change.org_free", f"组织机构代码 {org} 已属于“{holder.name}”")
        new["org_code"] = org
    name = _clean(new_name)
    if name and name != enterprise.name:
        new["name"] = name[:200]
    for field, value in (("division_code", new_division_code), ("division_name", new_division_name)):
        text = _clean(value)
        if text and text != getattr(enterprise, field):
            if field == "division_code" and not (text.isdigit() and len(text) in (6, 9, 12)):
                raise PreconditionFailed("change.codes_valid", f"行政区划代码“{text}”应为 6、9 或 12 位数字")
            new[field] = text
    qual = latest_qualification(enterprise)
    for field, value in (("industry", industry), ("main_business", main_business), ("headcount", headcount)):
        text = _clean(value)
        if text is None:
            continue
        if field == "headcount":
            if not text.isdigit():
                raise PreconditionFailed("change.codes_valid", f"从业人数“{text}”应为整数")
            value = int(text)
        else:
            value = text
        if qual is None or getattr(qual, field) != value:
            new[field] = value
    if not new:
        raise PreconditionFailed("change.nothing", "所填内容与档案相同，没有需要变更的字段")

    if company_name:
        allowed = {name_key(enterprise.name), name_key(new.get("name", enterprise.name))}
        if name_key(company_name) not in allowed:
            raise PreconditionFailed(
                "change.company_matches", f"来函企业名称“{company_name}”与档案中的“{enterprise.name}”不一致"
            )
    if "name" in new or "division_name" in new or "division_code" in new:
        blocking = _projects_under(
            enterprise, name="name" in new, division=bool({"division_name", "division_code"} & new.keys())
        )
        if blocking:
            names = "、".join(f"“{p.name}”" for p in blocking[:5])
            more = f" 等 {len(blocking)} 个项目" if len(blocking) > 5 else ""
            raise PreconditionFailed(
                "change.projects", f"{names}{more}以原企业名称或行政区划申报，须先删除这些申请表再修改"
            )
    info_fields = set(new) - set(CODE_FIELDS)
    if info_fields and qual is not None and qual.review_status == "已公示" and not qual.allow_modify:
        labels = "、".join(FIELD_LABELS[f] for f in sorted(info_fields))
        raise PreconditionFailed(
            "change.qualification_locked",
            f"{qual.fund_year} 年度资质已公示且未开通“允许修改资料”，不能修改{labels}；"
            "请企业先联系所属商务主管机关开通修改权限",
        )
    return new


def _projects_under(enterprise: Enterprise, *, name: bool, division: bool) -> list[ProjectApplication]:
    """Projects filed under the enterprise's current name or division (FAQ case 三)."""
    out = []
    key = name_key(enterprise.name)
    for p in session.scalars(
        select(ProjectApplication)
        .where(ProjectApplication.enterprise_id == enterprise.id)
        .order_by(ProjectApplication.id)
    ):
        by_name = name and p.filed_company_name and name_key(p.filed_company_name) == key
        by_division = division and p.filed_division in {
            enterprise.division_name,
            enterprise.division_code,
        } - {""}
        if by_name or by_division:
            out.append(p)
    return out


def apply_change(
    enterprise: Enterprise,
    *,
    actor: Actor | None,
    ticket_id: int | None,
    detail: dict[str, Any] | None = None,
    **values: Any,
) -> Applied:
    """Correct codes and/or qualification fields; the qualification goes back to 未审核. Flushes.

    `values` are the keyword arguments of `plan_change` (new_uscc, new_org_code, new_name, ...).
    """
    enterprise = _lock(enterprise)
    new = plan_change(enterprise, **values)
    changes: list[Change] = []
    for field in (*CODE_FIELDS, *ENTERPRISE_FIELDS):
        if field in new:
            changes.append(
                Change("enterprise", str(enterprise.id), field, getattr(enterprise, field), new[field])
            )
            setattr(enterprise, field, new[field])
    qual = latest_qualification(enterprise)
    notes: list[str] = []
    for field in QUALIFICATION_FIELDS:
        if field in new:
            if qual is None:
                qual = Qualification(
                    enterprise_id=enterprise.id, fund_year=utcnow().year, review_status="未审核"
                )
                session.add(qual)
                session.flush()
            before = getattr(qual, field)
            changes.append(
                Change(
                    "qualification",
                    str(qual.id),
                    field,
                    None if before is None else str(before),
                    str(new[field]),
                )
            )
            setattr(qual, field, new[field])
    if qual is not None and qual.review_status != "未审核":
        changes.append(Change("qualification", str(qual.id), "review_status", qual.review_status, "未审核"))
        qual.review_status = "未审核"
    if qual is not None:
        notes.append(f"{qual.fund_year} 年度企业资质已转为“未审核”状态，待所属商务主管机关重新审核。")
    summary = "；".join(
        f"{c.label}由 {c.before or '空'} 变更为 {c.after}" for c in changes if c.field != "review_status"
    )
    _audit(changes, action="change", enterprise=enterprise, actor=actor, ticket_id=ticket_id, detail=detail)
    session.flush()
    return Applied("change", summary, tuple(changes), notes=tuple(notes))


# ------------------------------------------------------------------------------------------ unbind


def check_unbind(enterprise: Enterprise, account_name: str) -> PlatformAccount:
    """The account to unbind, or PreconditionFailed (several accounts; this one holds the binding)."""
    account = _find_account(enterprise, account_name)
    _require_several(enterprise, "解绑")
    if account.status != "active":
        raise PreconditionFailed("account.active", f"账号 {account.account_name} 已注销")
    if not account.app_bound:
        holder = next((a for a in enterprise.accounts if a.app_bound), None)
        where = f"当前绑定在账号 {holder.account_name} 上" if holder else "该企业目前没有账号绑定应用"
        raise PreconditionFailed("unbind.holds_binding", f"账号 {account.account_name} 没有绑定应用，{where}")
    return account


def apply_unbind(
    enterprise: Enterprise,
    account_name: str,
    *,
    actor: Actor | None,
    ticket_id: int | None,
    detail: dict[str, Any] | None = None,
) -> Applied:
    """Remove the fund application's binding from the named account. Flushes."""
    enterprise = _lock(enterprise)
    account = check_unbind(enterprise, account_name)
    account.app_bound = False
    changes = [Change("account", account.account_name, "app_bound", BOUND, UNBOUND)]
    _audit(changes, action="unbind", enterprise=enterprise, actor=actor, ticket_id=ticket_id, detail=detail)
    session.flush()
    return Applied("unbind", f"解绑账号 {account.account_name} 的{APP}", tuple(changes))


# ------------------------------------------------------------------------------------------ cancel


def check_cancel(enterprise: Enterprise, account_name: str) -> PlatformAccount:
    """The account to cancel, or PreconditionFailed (several accounts; it belongs; not yet cancelled)."""
    account = _find_account(enterprise, account_name)
    if account.status != "active":
        raise PreconditionFailed("account.active", f"账号 {account.account_name} 已经注销")
    _require_several(enterprise, "注销")
    return account


def apply_cancel(
    enterprise: Enterprise, account_name: str, *, actor: Actor | None, ticket_id: int | None,
    detail: dict[str, Any] | None = None,
) -> Applied:  # fmt: skip
    """Mark the account cancelled (and unbound). Irreversible. Flushes."""
    enterprise = _lock(enterprise)
    account = check_cancel(enterprise, account_name)
    changes = [Change("account", account.account_name, "status", ACTIVE, CANCELLED)]
    notes = []
    if account.app_bound:
        changes.append(Change("account", account.account_name, "app_bound", BOUND, UNBOUND))
        account.app_bound = False
        notes.append(f"该账号原绑定{APP}，已一并解绑；如需使用应用，请用其他账号重新申请。")
    account.status = "cancelled"
    account.cancelled_at = utcnow()
    _audit(changes, action="cancel", enterprise=enterprise, actor=actor, ticket_id=ticket_id, detail=detail)
    session.flush()
    return Applied("cancel", f"注销账号 {account.account_name}", tuple(changes), notes=tuple(notes))


# ------------------------------------------------------------------------------------------ recovery


def recovery_accounts(enterprise: Enterprise) -> list[PlatformAccount]:
    """The active accounts to tell the enterprise (bound one first), or PreconditionFailed."""
    active = active_accounts(enterprise)
    if not active:
        raise PreconditionFailed("recovery.has_accounts", f"“{enterprise.name}”在档案中没有有效账号")
    return active


def apply_recovery(enterprise: Enterprise, *, actor: Actor | None, ticket_id: int | None) -> Applied:
    """Record which account names are disclosed (never a password); nothing else changes. Flushes."""
    accounts = recovery_accounts(enterprise)
    names = "、".join(a.account_name for a in accounts)
    _audit([Change("enterprise", str(enterprise.id), "accounts", None, names)], action="recovery",
           enterprise=enterprise, actor=actor, ticket_id=ticket_id)  # fmt: skip
    session.flush()
    return Applied(
        "recovery", f"告知账号 {names}", accounts=tuple((a.account_name, a.app_bound) for a in accounts)
    )


def audit_for(enterprise: Enterprise, limit: int = 200) -> list[AuditEntry]:
    """The enterprise's audit entries, newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.enterprise_id == enterprise.id)
            .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )


def count_active(enterprise_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                PlatformAccount.enterprise_id == enterprise_id, PlatformAccount.status == "active"
            )
        )
        or 0
    )
