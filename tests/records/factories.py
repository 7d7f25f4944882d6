"""Plain factory functions for the records tests: each adds rows and flushes (the test commits)."""

from __future__ import annotations

import random
from typing import Any

from helpdesk.db import session
from helpdesk.letters import codes
from helpdesk.records.models import Enterprise, PlatformAccount, ProjectApplication, Qualification
from helpdesk.tickets.models import Message, Ticket

_rng = random.Random(20261126)


def make_uscc(division: str = "320500", rng: random.Random | None = None) -> str:
    """A valid USCC (GB 32100-2015) with a valid embedded organisation code."""
    rng = rng or _rng
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    head = "91" + division + body + codes.org_check_char(body)
    return head + codes.uscc_check_char(head)


def corrupt(code: str) -> str:
    """The code with its check character changed: fails the checksum."""
    last = code[-1]
    alphabet = codes.USCC_ALPHABET if len(code) == 18 else "0123456789X"
    return code[:-1] + next(c for c in alphabet if c != last)


def make_enterprise(name: str = "苏州恒达贸易有限公司", *, uscc: str | None = None, accounts: tuple[str, ...] = ("hengda1",),
                    bound: str | None = "first", review_status: str = "未公示", allow_modify: bool = False,
                    projects: tuple[tuple[str, str, str], ...] = (), contact_email: str = "contact@hengda.cn",
                    division_name: str = "苏州市", **kw: Any) -> Enterprise:  # fmt: skip
    uscc = uscc or make_uscc()
    ent = Enterprise(name=name, uscc=uscc, org_code=uscc[8:17], division_code="320500", division_name=division_name,
                     contact_email=contact_email, **kw)  # fmt: skip
    session.add(ent)
    session.flush()
    for i, account in enumerate(accounts):
        is_bound = account == bound or (bound == "first" and i == 0)
        session.add(PlatformAccount(enterprise_id=ent.id, account_name=account, app_bound=is_bound,
                                    email=f"{account}@mail.test"))  # fmt: skip
    session.add(Qualification(enterprise_id=ent.id, fund_year=2026, review_status=review_status,
                              allow_modify=allow_modify, industry="批发和零售业", main_business="进出口贸易", headcount=30))  # fmt: skip
    for pname, filed_name, filed_division in projects:
        session.add(ProjectApplication(enterprise_id=ent.id, name=pname, status="已受理", fund_year=2026,
                                       filed_company_name=filed_name, filed_division=filed_division))  # fmt: skip
    session.flush()
    session.refresh(ent)
    return ent


def letter(type_: str, **fields: Any) -> dict[str, Any]:
    """A Letter.to_dict()-shaped dict with the given field values."""
    items = []
    for name, value in fields.items():
        for v in value if name in ("uscc", "org_code") and isinstance(value, list) else [value]:
            items.append({"name": name, "value": v, "confidence": 0.9, "repaired": False, "original": None,
                          "evidence": {"source": "body", "text": str(v), "page": None, "start": None, "end": None}})  # fmt: skip
    return {"type": type_, "type_reasons": [], "fields": items, "findings": [], "sources": [], "timings": {},
            "ocr_pending": False}  # fmt: skip


def make_ticket(type_: str = "unbind", *, enterprise: Enterprise | None = None, status: str = "open",
                requester: str = "contact@hengda.cn", subject: str = "解绑说明", **fields: Any) -> Ticket:  # fmt: skip
    # a complete letter unless the test says otherwise: stamped, with the licence for unbind / cancel
    if type_ in ("change", "unbind", "cancel"):
        fields.setdefault("seal", "seal")
    if type_ in ("unbind", "cancel"):
        fields.setdefault("has_licence", True)
    fields = {k: v for k, v in fields.items() if v is not None}  # None: the letter does not say it
    ticket = Ticket(type=type_, status=status, subject=subject, requester_email=requester,
                    enterprise_id=enterprise.id if enterprise else None, fields={})  # fmt: skip
    session.add(ticket)
    session.flush()
    # the reading lives on the inbound message it was read from (helpdesk.letters.current)
    session.add(Message(ticket_id=ticket.id, kind="inbound", sender=requester, subject=subject,
                        letter=letter(type_, **fields)))  # fmt: skip
    session.flush()
    return ticket
