"""Findings against the records: what an agent checks by hand before applying a resolution.

`record_findings(ticket)` reads the letter's fields (as the agent confirmed or corrected them in
`ticket.fields`, else as read from its messages: helpdesk.letters.current) and the linked
enterprise's records, and returns plain dicts ``{"code", "status": pass|fail|unknown, "message"
(Chinese), "field"}``. The ticket is only read (duck-typed: type, fields, messages, events,
enterprise_id, requester_email), so this module does not import tickets.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import select

from helpdesk.db import session
from helpdesk.letters import codes
from helpdesk.letters.current import EventLike, MessageLike, current_letter
from helpdesk.records import checks, lookup
from helpdesk.records.keys import account_key, account_variants, email_key, name_key
from helpdesk.records.models import Enterprise, PlatformAccount
from helpdesk.records.resolutions import (
    PreconditionFailed,
    _projects_under,
    active_accounts,
    latest_qualification,
    plan_change,
)

LIST_FIELDS = ("account_names", "target_accounts", "uscc", "org_code")
_SPLIT = re.compile(r"[,，、;；\s]+")


class TicketLike(Protocol):
    type: str
    fields: dict[str, Any] | None
    messages: Sequence[MessageLike]
    events: Sequence[EventLike]
    enterprise_id: int | None
    requester_email: str


def ticket_values(ticket: TicketLike) -> dict[str, Any]:
    """The letter's values by field name: the agent's corrections over the extracted values.

    List fields (account_names, target_accounts, uscc, org_code) are lists of strings; the others
    the first extracted value.
    """
    out: dict[str, Any] = {}
    read = current_letter(ticket).read
    for f in read.fields if read else ():
        name, value = f.name, f.value
        if name in LIST_FIELDS:
            items = value if isinstance(value, list) else [value]
            out.setdefault(name, []).extend(str(v) for v in items if v not in (None, ""))
        elif name and name not in out:
            out[name] = value
    for name, value in (ticket.fields or {}).items():
        if name in LIST_FIELDS:
            items = value if isinstance(value, list) else _SPLIT.split(str(value or ""))
            out[name] = [str(v).strip() for v in items if str(v).strip()]
        else:
            out[name] = value
    for name in LIST_FIELDS:
        out[name] = list(dict.fromkeys(out.get(name, [])))
    return out


def _code_kind(value: Any) -> tuple[str | None, str]:
    """("uscc" | "org_code" | None, normalised value) for a value stated in a letter."""
    text = codes.normalize_code(str(value or ""))
    if len(text) == 18 and text.isalnum() and text.isascii():
        return "uscc", text
    if len(text) == 9 and text.isalnum() and text.isascii():
        return "org_code", text
    return None, text


def suggest_change(values: dict[str, Any], enterprise: Enterprise | None) -> dict[str, str]:
    """Form values for a change resolution, read from the letter: old and new codes, name, division."""
    out: dict[str, str] = {}
    old_kind, old = _code_kind(values.get("old_value"))
    new_kind, new = _code_kind(values.get("new_value"))
    if new_kind:
        out[f"new_{new_kind}"] = new
    if old_kind:
        out[f"old_{old_kind}"] = old
    if enterprise is not None and "new_uscc" not in out:
        # "由 A 变更为 B" not understood, but two USCCs in the letter: the one not on record is the new one
        others = [
            u for u in (codes.normalize_code(x) for x in values.get("uscc", [])) if u != enterprise.uscc
        ]
        if len(others) == 1 and enterprise.uscc in {codes.normalize_code(x) for x in values.get("uscc", [])}:
            out["new_uscc"] = others[0]
            out.setdefault("old_uscc", enterprise.uscc or "")
    modification = str(values.get("modification") or "")
    new_text = str(values.get("new_value") or "").strip()
    if new_text and not new_kind:
        if "行政区划" in modification:
            out["new_division_name"] = new_text
        elif "名称" in modification:
            out["new_name"] = new_text
        elif "行业" in modification:
            out["industry"] = new_text
        elif "主营业务" in modification:
            out["main_business"] = new_text
        elif "人数" in modification and new_text.isdigit():
            out["headcount"] = new_text
    return out


def first_account(values: dict[str, Any]) -> str:
    targets = values.get("target_accounts") or []
    return str(targets[0]) if targets else ""


class _Findings:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, code: str, status: str, message: str, field: str | None = None) -> None:
        self.items.append({"code": code, "status": status, "message": message, "field": field})


def record_findings(ticket: TicketLike) -> list[dict[str, Any]]:
    """Checks of the letter against the records, each pass / fail / unknown with a Chinese message."""
    values = ticket_values(ticket)
    out = _Findings()
    enterprise = session.get(Enterprise, ticket.enterprise_id) if ticket.enterprise_id else None
    if enterprise is None:
        found = ticket_candidates(ticket, values)
        if found:
            out.add(
                "records_enterprise",
                "unknown",
                f"尚未关联企业档案：找到 {len(found)} 家可能的企业，请选择一家关联。",
            )
        elif ticket.type in GATED_ACTIONS or ticket.type == "recovery":
            out.add(
                "records_enterprise",
                "fail",
                "档案中没有找到来函所指的企业（代码、账号、名称、邮箱均未匹配）。",
            )
        if ticket.type == "change":
            _new_codes(out, values, None)
        return out.items
    out.add(
        "records_enterprise",
        "pass",
        f"已关联企业档案：{enterprise.name}（{enterprise.uscc or '无统一社会信用代码'}）。",
    )
    _company_name(out, values, enterprise)
    if ticket.type != "change":
        _codes_match(out, values, enterprise)
    _named_accounts(out, values, enterprise)
    _account_count(out, values, enterprise)
    if ticket.type == "unbind":
        _unbind(out, values, enterprise)
    elif ticket.type == "cancel":
        _cancel(out, values, enterprise)
    elif ticket.type == "change":
        _change(out, values, enterprise)
    elif ticket.type == "recovery":
        _recovery(out, ticket, enterprise)
    if ticket.type == "change":
        _qualification(out, enterprise, codes_only=_codes_only(values, enterprise))
    elif ticket.type == "inquiry":  # for a question the status is information, not a verdict
        _qualification(out, enterprise, codes_only=False, inquiry=True)
    return out.items


def _company_name(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    name = str(values.get("company_name") or "").strip()
    if not name:
        out.add("records_company_name", "unknown", "来函中没有读到企业名称，请核对。", "company_name")
        return
    if name_key(name) == enterprise.name_key:
        out.add(
            "records_company_name", "pass", f"来函企业名称与档案一致：{enterprise.name}。", "company_name"
        )
        return
    ratio = difflib.SequenceMatcher(None, name_key(name), enterprise.name_key, autojunk=False).ratio()
    if ratio >= 0.85:
        out.add("records_company_name", "unknown",
                f"来函企业名称“{name}”与档案“{enterprise.name}”相近但不一致，请核对。", "company_name")  # fmt: skip
    else:
        out.add(
            "records_company_name",
            "fail",
            f"来函企业名称“{name}”与档案“{enterprise.name}”不一致。",
            "company_name",
        )


def _codes_match(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    usccs = [codes.normalize_code(u) for u in values.get("uscc", [])]
    orgs = [lookup.normalize_org_code(o) for o in values.get("org_code", [])]
    if not usccs and not orgs:
        return
    wrong = [u for u in usccs if u != enterprise.uscc] + [o for o in orgs if o != enterprise.org_code]
    slips = [(w, r, why) for w in wrong for r, why in [_slip_of_record(w, enterprise)] if why]
    if wrong and len(slips) == len(wrong):
        # every difference is one slip away from the record: the same enterprise, most likely
        hints = "；".join(f"来函 {w}，您是不是指档案中的 {r}？（{why}）" for w, r, why in slips)
        out.add("records_codes", "unknown", f"来函中的代码与档案只差一处，疑似笔误：{hints}", "uscc")
    elif wrong:
        out.add("records_codes", "fail",
                f"来函中的代码 {'、'.join(wrong)} 与档案（{enterprise.uscc or '—'} / "
                f"{checks.display_org_code(enterprise.org_code) or '—'}）不一致。", "uscc")  # fmt: skip
    else:
        out.add("records_codes", "pass", "来函中的统一社会信用代码/组织机构代码与档案一致。", "uscc")


# ------------------------------------------------------------------------------------ code slips

#: characters that look alike in print, handwriting and OCR: (written, meant) either way round
_LOOKALIKE_CODE = {frozenset(p) for p in ("O0", "Q0", "D0", "I1", "L1", "Z2", "S5", "B8", "G6", "VU", "T7")}


def code_slip(written: str, recorded: str) -> str | None:
    """Why `written` is probably a slip for `recorded` (one character off, two swapped, O for 0 ...),
    in Chinese; None when they are equal or differ by more than one slip."""
    a, b = codes.normalize_code(written).replace("-", ""), codes.normalize_code(recorded).replace("-", "")
    if a == b or len(a) != len(b) or not a:
        return None
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        i = diff[0]
        kind = "形近字符" if frozenset((a[i], b[i])) in _LOOKALIKE_CODE else "只差一位"
        return f"第 {i + 1} 位写成了 {a[i]}，档案为 {b[i]}，{kind}"
    if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
        return f"第 {diff[0] + 1}、{diff[1] + 1} 位前后颠倒"
    return None


def _slip_of_record(written: str, enterprise: Enterprise) -> tuple[str, str | None]:
    """(the record's code, why `written` looks like a slip of it) against the enterprise's USCC or org code."""
    for recorded in (enterprise.uscc, enterprise.org_code):
        if recorded:
            why = code_slip(written, recorded)
            if why:
                return (checks.display_org_code(recorded) if len(recorded) == 9 else recorded), why
    return "", None


def slip_candidates(code: str) -> list[Enterprise]:
    """Enterprises whose USCC or org code the (wrong) `code` is one look-alike or check-digit repair from."""
    text = codes.normalize_code(code).replace("-", "")
    tries: list[str] = []
    if len(text) == 18:
        tries += [t for t in (codes.repair_uscc(text), codes.repair_uscc(text, in_alphabet=False)) if t]
        tries.append(text.translate(_CODE_LOOKALIKES))
        if all(c in codes.USCC_ALPHABET for c in text[:17]):  # a wrong check character
            tries.append(text[:17] + codes.uscc_check_char(text[:17]))
        found = [lookup.by_uscc(t) for t in dict.fromkeys(tries) if t != text]
        return [e for e in found if e is not None]
    if len(text) == 9:
        tries += [t for t in (codes.repair_org_code(text),) if t]
        tries.append(text.translate(_CODE_LOOKALIKES))
        with contextlib.suppress(ValueError):  # a character no org code holds: no check character
            tries.append(text[:8] + codes.org_check_char(text[:8]))
        return [e for t in dict.fromkeys(tries) if t != text for e in lookup.by_org_code(t)]
    return []


#: letters a code never holds where a digit was meant (the USCC alphabet has no I, O, S, V, Z)
_CODE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "Z": "2", "S": "5", "V": "U"})


#: characters OCR and typing confuse in account names: each maps to one representative
_LOOKALIKE = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1", "s": "5", "z": "2", "b": "8"})


def _lookalike_key(name: str) -> str:
    return account_key(name).removeprefix("zxkt_").translate(_LOOKALIKE)


def did_you_mean(written: str, accounts: Iterable[PlatformAccount]) -> PlatformAccount | None:
    """The one account whose name differs from `written` only by look-alike characters (O/0, l/1 ...)."""
    key = _lookalike_key(written)
    found = [a for a in accounts if _lookalike_key(a.account_name) == key]
    return found[0] if len(found) == 1 else None


def _named_accounts(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    named = list(dict.fromkeys([*values.get("account_names", []), *values.get("target_accounts", [])]))
    if not named:
        return
    problems, ok = [], []
    own = {a.account_name: a for a in enterprise.accounts}
    for written in named:
        match = next((own[n] for n in sorted(account_variants(written)) if n in own), None)
        if match is not None:
            if match.status != "active":
                problems.append(f"{written}（已注销）")
            else:
                ok.append(match.account_name)
            continue
        other = session.scalar(
            select(PlatformAccount)
            .where(PlatformAccount.account_name.in_(account_variants(written)))
            .limit(1)
        )
        near = did_you_mean(written, enterprise.accounts) if other is None else None
        if other is not None:
            problems.append(f"{written}（属于“{other.enterprise.name}”）")
        elif near is not None:
            problems.append(
                f"{written}（档案中不存在；您是否指 {near.account_name}？字母 O/数字 0、字母 l/数字 1 易混）"
            )
        else:
            problems.append(f"{written}（档案中不存在）")
    if problems:
        out.add("records_accounts", "fail", f"来函所列账号有问题：{'、'.join(problems)}。", "account_names")
    else:
        out.add("records_accounts", "pass", f"来函所列账号均属于该企业：{'、'.join(ok)}。", "account_names")


def _account_count(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    stated = values.get("account_count")
    if stated in (None, ""):
        return
    try:
        stated_n = int(stated)
    except (TypeError, ValueError):
        out.add("records_account_count", "unknown", f"来函所述账号数量“{stated}”无法识别。", "account_count")
        return
    held = active_accounts(enterprise)
    names = "、".join(a.account_name for a in held) or "无"
    if stated_n == len(held):
        out.add("records_account_count", "pass", f"来函称有 {stated_n} 个账号，档案中有效账号 {len(held)} 个（{names}）。",
                "account_count")  # fmt: skip
    else:
        out.add("records_account_count", "fail",
                f"来函称有 {stated_n} 个账号，档案中有效账号为 {len(held)} 个（{names}）。", "account_count")  # fmt: skip


def _several(out: _Findings, enterprise: Enterprise, verb: str) -> None:
    held = active_accounts(enterprise)
    if len(held) > 1:
        out.add("records_multiple_accounts", "pass", f"企业有 {len(held)} 个有效账号，可以{verb}。")
    else:
        out.add(
            "records_multiple_accounts", "fail", f"企业只有 {len(held)} 个有效账号，{verb}须有一个以上账号。"
        )


def _binding_holder(enterprise: Enterprise) -> PlatformAccount | None:
    return next((a for a in enterprise.accounts if a.app_bound), None)


def _unbind(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    _several(out, enterprise, "解绑")
    holder = _binding_holder(enterprise)
    target = first_account(values)
    where = f"应用当前绑定在账号 {holder.account_name} 上" if holder else "该企业目前没有账号绑定应用"
    if not target:
        out.add("records_binding", "unknown", f"来函未写明要解绑的账号；{where}。", "target_accounts")
    elif holder is not None and holder.account_name in account_variants(target):
        out.add("records_binding", "pass", f"{where}，与来函要解绑的账号一致。", "target_accounts")
    else:
        out.add("records_binding", "fail", f"来函要解绑 {target}，但{where}。", "target_accounts")


def _cancel(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    _several(out, enterprise, "注销")
    target = first_account(values)
    if not target:
        out.add("records_cancel_target", "unknown", "来函未写明要注销的账号。", "target_accounts")
        return
    own = {a.account_name: a for a in enterprise.accounts}
    account = next((own[n] for n in sorted(account_variants(target)) if n in own), None)
    near = did_you_mean(target, enterprise.accounts) if account is None else None
    if near is not None:
        out.add("records_cancel_target", "fail",
                f"要注销的账号 {target} 不在档案中；您是否指 {near.account_name}？请核对后在表单中改正。",
                "target_accounts")  # fmt: skip
    elif account is None:
        out.add("records_cancel_target", "fail", f"要注销的账号 {target} 不属于该企业。", "target_accounts")
    elif account.status != "active":
        out.add("records_cancel_target", "fail", f"账号 {account.account_name} 已经注销。", "target_accounts")
    elif account.app_bound:
        out.add("records_cancel_target", "unknown",
                f"账号 {account.account_name} 正绑定应用：注销后企业将没有绑定应用的账号，请确认企业知悉。",
                "target_accounts")  # fmt: skip
    else:
        out.add("records_cancel_target", "pass", f"账号 {account.account_name} 属于该企业，未绑定应用，可以注销。",
                "target_accounts")  # fmt: skip


def _codes_only(values: dict[str, Any], enterprise: Enterprise) -> bool:
    plan = suggest_change(values, enterprise)
    return bool(plan) and all(k in ("new_uscc", "new_org_code", "old_uscc", "old_org_code") for k in plan)


def _new_codes(out: _Findings, values: dict[str, Any], enterprise: Enterprise | None) -> dict[str, str]:
    plan = suggest_change(values, enterprise)
    for kind, label in (("uscc", "统一社会信用代码"), ("org_code", "组织机构代码")):
        new = plan.get(f"new_{kind}")
        if not new:
            continue
        problem = checks.uscc_problem(new) if kind == "uscc" else checks.org_code_problem(new)
        if problem:
            out.add(f"records_new_{kind}", "fail", f"新{label}无效：{problem}。", "new_value")
            continue
        column = Enterprise.uscc if kind == "uscc" else Enterprise.org_code
        holder = session.scalar(
            select(Enterprise)
            .where(column == new, Enterprise.id != (enterprise.id if enterprise else -1))
            .limit(1)
        )
        if holder is not None:
            out.add(f"records_new_{kind}", "fail", f"新{label} {new} 已属于“{holder.name}”。", "new_value")
        else:
            out.add(
                f"records_new_{kind}", "pass", f"新{label} {new} 校验通过，且未被其他企业使用。", "new_value"
            )
    return plan


def _change(out: _Findings, values: dict[str, Any], enterprise: Enterprise) -> None:
    plan = _new_codes(out, values, enterprise)
    for kind, label, current in (
        ("uscc", "统一社会信用代码", enterprise.uscc),
        ("org_code", "组织机构代码", enterprise.org_code),
    ):
        old = plan.get(f"old_{kind}")
        if not old:
            continue
        if old == current:
            out.add(f"records_old_{kind}", "pass", f"来函所述原{label} {old} 与档案一致。", "old_value")
        else:
            out.add(
                f"records_old_{kind}",
                "fail",
                f"来函所述原{label} {old} 与档案（{current or '空'}）不一致。",
                "old_value",
            )
    if not plan:
        out.add(
            "records_change_plan",
            "unknown",
            "没有从来函中读出要修改的内容，请在办理表单中填写。",
            "modification",
        )
    touches_name = "new_name" in plan
    touches_division = "new_division_name" in plan or "new_division_code" in plan
    if touches_name or touches_division:
        blocking = _projects_under(enterprise, name=touches_name, division=touches_division)
        if blocking:
            names = "、".join(f"“{p.name}”（{p.status or '状态未知'}）" for p in blocking[:5])
            out.add("records_projects", "fail",
                    f"有 {len(blocking)} 个项目以原企业名称或行政区划申报：{names}。须先删除这些申请表才能修改"
                    "（FAQ 情况三），来函所称“变更后对企业之前申报项目无影响”不成立。", "modification")  # fmt: skip
        else:
            out.add("records_projects", "pass", "没有以原企业名称或行政区划申报的项目。", "modification")
    elif plan:
        count = len(enterprise.projects)
        out.add("records_projects", "pass",
                f"变更不涉及企业名称和行政区划，已申报的 {count} 个项目不受影响。", "modification")  # fmt: skip
    if plan:
        params = {k: v for k, v in plan.items()}
        params["company_name"] = str(values.get("company_name") or "") or None
        try:
            plan_change(enterprise, **params)
        except PreconditionFailed as exc:
            out.add("records_change_ready", "fail", str(exc), "modification")
        else:
            out.add("records_change_ready", "pass", "按来函内容可以办理变更。", "modification")


def _qualification(
    out: _Findings, enterprise: Enterprise, *, codes_only: bool, inquiry: bool = False
) -> None:
    qual = latest_qualification(enterprise)
    if qual is None:
        out.add("records_qualification", "unknown", "档案中没有该企业的资质记录。")
        return
    head = f"{qual.fund_year} 年度资质“{qual.review_status}”"
    if qual.review_status != "已公示":
        out.add("records_qualification", "pass", f"{head}，资质信息可以修改；修改后转为“未审核”。")
    elif qual.allow_modify:
        out.add("records_qualification", "pass", f"{head}，已开通“允许修改资料”；修改后转为“未审核”。")
    elif inquiry:
        out.add("records_qualification", "unknown",
                f"{head}，未开通“允许修改资料”：企业如需修改资质信息，须先联系所属商务主管机关开通修改权限"
                "（FAQ 情况二）。")  # fmt: skip
    elif codes_only:
        out.add("records_qualification", "unknown",
                f"{head}，未开通“允许修改资料”；代码更正由工作人员办理（FAQ 情况五），办理后资质转为“未审核”，"
                "需主管机关重新审核。")  # fmt: skip
    else:
        out.add("records_qualification", "fail",
                f"{head}，未开通“允许修改资料”：须企业先联系商务主管机关开通修改权限（FAQ 情况二）。")  # fmt: skip


def _recovery(out: _Findings, ticket: TicketLike, enterprise: Enterprise) -> None:
    held = active_accounts(enterprise)
    if held:
        names = "、".join(a.account_name + ("（已绑定应用）" if a.app_bound else "") for a in held)
        out.add("records_recovery_accounts", "pass", f"档案中的有效账号：{names}。")
    else:
        out.add("records_recovery_accounts", "fail", "档案中该企业没有有效账号，无法告知账号。")
    sender = email_key(ticket.requester_email)
    known = {email_key(enterprise.contact_email), *(email_key(a.email) for a in enterprise.accounts)} - {""}
    if sender and sender in known:
        out.add("records_sender", "pass", f"发件邮箱 {sender} 是档案中登记的邮箱。")
    else:
        out.add("records_sender", "unknown",
                f"发件邮箱 {sender or '（无）'} 不是档案中登记的邮箱：告知账号前请核实来函确属该企业（公章、营业执照）。")  # fmt: skip


def ticket_candidates(ticket: TicketLike, values: dict[str, Any] | None = None) -> list[lookup.Match]:
    """Enterprises the ticket's evidence points to, with how each was found (for the agent to choose)."""
    values = values if values is not None else ticket_values(ticket)
    out: dict[int, lookup.Match] = {}

    def add(rows: Iterable[Enterprise | None], via: str, score: float = 1.0, detail: str = "") -> None:
        for e in rows:
            if e is not None and e.id not in out:
                out[e.id] = lookup.Match(e, via, score, detail)

    for code in values.get("uscc", []):
        add([lookup.by_uscc(code)], "uscc", detail=code)
    for code in values.get("org_code", []):
        add(lookup.by_org_code(code), "org_code", detail=code)
    for code in [*values.get("uscc", []), *values.get("org_code", [])]:  # a slip: "did you mean"
        add(slip_candidates(code), "code_slip", 0.9, detail=code)
    for account in [*values.get("account_names", []), *values.get("target_accounts", [])]:
        add([lookup.by_account(account)], "account", detail=account_key(account))
    name = str(values.get("company_name") or "")
    if name:
        add(lookup.by_name(name), "name", detail=name)
        for e, ratio in lookup.fuzzy_by_name(name, cutoff=0.75, limit=5):
            add([e], "fuzzy", ratio, detail=name)
    if ticket.requester_email:
        add(lookup.by_sender(ticket.requester_email), "email", detail=email_key(ticket.requester_email))
    return list(out.values())[:10]


# ------------------------------------------------------------------------------------------ gate

#: what to ask the enterprise for when a check that blocks an action failed or is unknown
MATERIAL = {
    "gate_licence": "加盖公章的营业执照扫描件",
    "gate_seal": "加盖公章的申请说明（《{kind}》）",
    "gate_codes": "填写正确的统一社会信用代码/组织机构代码的《{kind}》",
    "gate_company": "与营业执照名称一致、加盖公章的《{kind}》",
    "gate_account": "写明要办理的账号（须为贵单位名下账号）的《{kind}》",
    "gate_several": "贵单位名下全部账号的列表（解绑、注销仅适用于有一个以上账号的企业）",
}
KIND_NAMES = {"change": "变更说明", "unbind": "解绑说明", "cancel": "注销说明"}
#: the actions the gate applies to: they change the records on the strength of a stamped letter
GATED_ACTIONS = ("change", "unbind", "cancel")
_RECORD_GATES = {
    "records_company_name": "gate_company",
    "records_accounts": "gate_account",
    "records_cancel_target": "gate_account",
    "records_binding": "gate_account",
    "records_multiple_accounts": "gate_several",
    "records_new_uscc": "gate_codes",
    "records_new_org_code": "gate_codes",
}


def _letter_findings(ticket: TicketLike) -> dict[str, list[Any]]:
    read = current_letter(ticket).read
    out: dict[str, list[Any]] = {}
    for f in read.findings if read else ():
        out.setdefault(f.code, []).append(f)
    return out


def gate_checks(ticket: TicketLike, action: str) -> list[dict[str, Any]]:
    """The required checks of `action` that failed or are unknown: each blocks it until the material
    arrives or an agent overrides with a reason. Dicts ``{"code", "status", "message", "material"}``.

    The agent's value of 公章 / 营业执照 (ticket.fields) wins over the reading; a check nothing says
    anything about is unknown, never a pass.
    """
    if action not in GATED_ACTIONS:
        return []
    values = ticket_values(ticket)
    letter = _letter_findings(ticket)
    kind = KIND_NAMES[action]
    out: list[dict[str, Any]] = []

    def block(code: str, status: str, message: str) -> None:
        out.append({"code": code, "status": status, "message": message,
                    "material": MATERIAL[code].format(kind=kind)})  # fmt: skip

    if action in ("unbind", "cancel"):
        licence = values.get("has_licence")
        if licence is False:
            block("gate_licence", "fail", "未附营业执照扫描件。")
        elif licence is not True:
            block("gate_licence", "unknown", "无法确认是否附有营业执照扫描件。")
    seal = values.get("seal")
    if seal == "none":
        block("gate_seal", "fail", "来函未见公章。")
    elif seal != "seal":
        block("gate_seal", "unknown", "无法确认来函是否加盖公章。")
    bad_codes = [f.message for c in ("uscc_checksum", "org_code_checksum") for f in letter.get(c, [])
                 if f.status == "fail"]  # fmt: skip
    if bad_codes:
        block("gate_codes", "fail", "；".join(bad_codes) + "。")
    seen = {item["code"] for item in out}
    for f in record_findings(ticket):
        gate = _RECORD_GATES.get(f["code"])
        if gate is None or f["status"] == "pass" or gate in seen:
            continue
        seen.add(gate)
        block(gate, f["status"], f["message"])
    return out


def gate_fingerprint(blockers: list[dict[str, Any]]) -> str:
    """A short stable digest of the blocking checks, to tell whether they changed since a page was shown."""
    text = "|".join(f"{b['code']}:{b['status']}:{b['message']}" for b in blockers)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------ one list

#: internal detail that means nothing to an agent (the seal hint's pixel box, in stored readings too)
_COORDINATES = re.compile(r"[，,]?\s*位置\s*\(\d+,\s*\d+\)\s*-\s*\(\d+,\s*\d+\)")
#: letter checks an agent's value of the field replaces: field -> (check code, pass text, fail text)
_AGENT_SETS = {
    "seal": ("seal", "客服已确认来函加盖公章", "客服已确认来函未见公章"),
    "has_licence": ("licence", "客服已确认附有营业执照扫描件", "客服已确认未附营业执照扫描件"),
}


def ticket_checks(ticket: Any) -> list[dict[str, Any]]:
    """The ticket's one list of checks: the letter's, as the agent corrected them, then the records'.

    A closed ticket shows one line saying so: its records now hold the result, and checking the
    letter against them again would contradict it (an account just cancelled is "已经注销").
    """
    if not getattr(ticket, "is_open", True):
        return [{"code": "closed", "status": "pass", "field": None,
                 "message": f"已办结（{getattr(ticket, 'status_label', '')}）：以下核对不再适用。"}]  # fmt: skip
    read = current_letter(ticket)
    corrected = read.corrected
    out: list[dict[str, Any]] = []
    for f in read.read.findings if read.read else ():
        if f.code == "seal" and "seal" in corrected:
            continue
        message = _COORDINATES.sub("", f.message)
        out.append({"code": f.code, "status": f.status, "message": message, "field": f.field})
    for name, (code, yes, no) in _AGENT_SETS.items():
        if name in corrected and read.values.get(name) in (True, False, "seal", "none"):
            ok = read.values[name] in (True, "seal")
            out.append({"code": code, "status": "pass" if ok else "fail", "message": yes if ok else no,
                        "field": name})  # fmt: skip
    if "has_licence" in corrected:
        # the reading's "缺少营业执照" no longer holds (or holds) once an agent looked at the attachments
        out = [f for f in out if not (f["code"] == "required_attachments" and "营业执照" in f["message"])]
    return out + record_findings(ticket)
