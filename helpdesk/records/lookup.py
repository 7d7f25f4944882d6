"""Find the enterprise a letter or a sender points to."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import or_, select

from helpdesk.db import session
from helpdesk.records.models import Enterprise, PlatformAccount

_NAME_NOISE = re.compile(r"[\s\u3000·•\-—_()（）\[\]【】,，.。、]+")


def name_key(name: str) -> str:
    """Company name folded for comparison: NFKC (full/half width), no spaces or punctuation, lower-case."""
    return _NAME_NOISE.sub("", unicodedata.normalize("NFKC", name or "")).lower()


def account_key(account: str) -> str:
    return unicodedata.normalize("NFKC", account or "").strip().lower()


def by_uscc(uscc: str) -> Enterprise | None:
    return session.scalar(select(Enterprise).where(Enterprise.uscc == uscc.upper()))


def by_org_code(code: str) -> list[Enterprise]:
    return list(session.scalars(select(Enterprise).where(Enterprise.org_code == code.upper())))


def by_account(account: str) -> Enterprise | None:
    """Enterprise holding `account`, tried as given and with / without the zxkt_ prefix."""
    key = account_key(account)
    names = {key, key.removeprefix("zxkt_"), "zxkt_" + key.removeprefix("zxkt_")}
    row = session.scalar(select(PlatformAccount).where(PlatformAccount.account_name.in_(names)).limit(1))
    return row.enterprise if row is not None else None


def by_name(name: str) -> list[Enterprise]:
    key = name_key(name)
    if not key:
        return []
    return list(session.scalars(select(Enterprise).where(Enterprise.name_key == key)))


def by_sender(email: str) -> list[Enterprise]:
    """Enterprises whose contact or account e-mail is this address."""
    email = email.strip().lower()
    if not email:
        return []
    rows = session.scalars(
        select(Enterprise).outerjoin(PlatformAccount).where(
            or_(Enterprise.contact_email == email, PlatformAccount.email == email)
        ).distinct()
    )
    return list(rows)


def candidates(
    *, usccs: Iterable[str] = (), org_codes: Iterable[str] = (), accounts: Iterable[str] = (),
    names: Iterable[str] = (), sender: str = "",
) -> list[Enterprise]:
    """Every enterprise the evidence points to, strongest evidence first, without duplicates."""
    found: dict[int, Enterprise] = {}

    def add(rows: Iterable[Enterprise | None]) -> None:
        for row in rows:
            if row is not None:
                found.setdefault(row.id, row)

    add(by_uscc(code) for code in usccs)
    for code in org_codes:
        add(by_org_code(code))
    add(by_account(account) for account in accounts)
    for name in names:
        add(by_name(name))
    if not found:
        add(by_sender(sender))
    return list(found.values())
