"""Find the enterprise a letter, a sender or an agent's search points to.

Every lookup is one or two indexed queries. The fuzzy name lookup narrows the candidates with the
bigram index (`enterprise_name_grams`): each bigram of the searched name reads at most
`GRAM_POSTINGS` postings, the enterprises sharing the most bigrams are scored with difflib, so its
cost does not grow with the number of enterprises.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import TextClause, column, select, table, text, union

from helpdesk.db import session
from helpdesk.letters import codes
from helpdesk.records.keys import account_key, account_variants, email_key, name_grams, name_key
from helpdesk.records.models import Enterprise, PlatformAccount

__all__ = [
    "Match",
    "account_key",
    "by_account",
    "by_name",
    "by_org_code",
    "by_sender",
    "by_uscc",
    "candidates",
    "fuzzy_by_name",
    "name_key",
    "normalize_org_code",
    "normalize_uscc",
    "search",
]

GRAM_POSTINGS = 256  #: a bigram in more names than this is too common to narrow the search
FUZZY_POOL = 20  #: enterprises sharing the most bigrams, scored with difflib
FUZZY_POOL_FEW = 80  #: the same when only one or two rare bigrams narrow (many names tie on them)
MAX_GRAMS = 24  #: bigrams of a long name used for narrowing
AUTO_LINK_RATIO = 0.9  #: a fuzzy name match this close counts as evidence for linking a ticket
SEARCH_RATIO = 0.6  #: what the search page still shows

# records never import tickets (imports flow one way): a lightweight view of the two columns needed
_tickets = table("tickets", column("requester_email"), column("enterprise_id"))


@dataclass(frozen=True, slots=True)
class Match:
    """An enterprise found by `search`, how it was found and how close the name was (1.0 = exact)."""

    enterprise: Enterprise
    via: str  #: uscc / org_code / account / name / fuzzy / email
    score: float = 1.0
    detail: str = ""

    @property
    def via_label(self) -> str:
        return VIA_LABELS.get(self.via, self.via)


VIA_LABELS = {
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "account": "平台账号",
    "name": "企业名称",
    "fuzzy": "名称相近",
    "email": "邮箱",
    "code_slip": "代码近似（疑似笔误）",
}


def normalize_uscc(code: str) -> str:
    return codes.normalize_code(code or "")


def normalize_org_code(code: str) -> str:
    """Organisation code as stored: 9 characters, upper case, no hyphen."""
    return codes.normalize_code(code or "").replace("-", "")


def by_uscc(uscc: str) -> Enterprise | None:
    code = normalize_uscc(uscc)
    if len(code) != 18:
        return None
    return session.scalar(select(Enterprise).where(Enterprise.uscc == code))


def by_org_code(code: str) -> list[Enterprise]:
    code = normalize_org_code(code)
    if len(code) != 9:
        return []
    return list(
        session.scalars(select(Enterprise).where(Enterprise.org_code == code).order_by(Enterprise.id))
    )


def account_row(account: str) -> PlatformAccount | None:
    """The account row `account` names: the exact name first, then with / without the zxkt_ prefix."""
    names = account_variants(account)
    if not names:
        return None
    rows = list(session.scalars(select(PlatformAccount).where(PlatformAccount.account_name.in_(names))))
    exact = account_key(account)
    rows.sort(key=lambda r: (r.account_name != exact, r.status != "active", r.id))
    return rows[0] if rows else None


def by_account(account: str) -> Enterprise | None:
    """Enterprise holding `account`, tried as given and with / without the zxkt_ prefix."""
    row = account_row(account)
    return row.enterprise if row is not None else None


def by_name(name: str) -> list[Enterprise]:
    """Enterprises whose name equals `name` once width, spaces, punctuation and case are ignored."""
    key = name_key(name)
    if not key:
        return []
    return list(session.scalars(select(Enterprise).where(Enterprise.name_key == key).order_by(Enterprise.id)))


def _statement(kind: str, n: int, pool: int = FUZZY_POOL) -> TextClause:
    """The hand-written SQL of the fuzzy lookup, cached per kind and number of bigrams.

    * counts: how many names carry each bigram, counting at most GRAM_POSTINGS + 1;
    * pool: the `pool` enterprises sharing the most of the given (rare) bigrams;
    * capped: the same when every bigram is common, reading at most GRAM_POSTINGS of each.

    Building these with SQLAlchemy constructs would cost more than running them.
    """
    key = (kind, n, pool)
    if key not in _SQL:
        cap = GRAM_POSTINGS
        grams = "enterprise_name_grams"
        if kind == "counts":
            sql = " UNION ALL ".join(
                f"SELECT {i} AS i, COUNT(*) AS n FROM (SELECT 1 AS x FROM {grams} WHERE gram = :g{i} "
                f"LIMIT {cap + 1}) AS p{i}"
                for i in range(n)
            )
        else:
            if kind == "pool":
                source = f"SELECT enterprise_id FROM {grams} WHERE gram IN ({', '.join(f':g{i}' for i in range(n))})"
            else:
                source = " UNION ALL ".join(
                    f"SELECT enterprise_id FROM (SELECT enterprise_id FROM {grams} WHERE gram = :g{i} "
                    f"LIMIT {cap}) AS p{i}"
                    for i in range(n)
                )
            sql = (
                "SELECT e.id, e.name_key, c.hits FROM enterprises AS e JOIN ("
                f"SELECT enterprise_id, COUNT(*) AS hits FROM ({source}) AS h "
                f"GROUP BY enterprise_id ORDER BY hits DESC, enterprise_id LIMIT {pool}"
                ") AS c ON c.enterprise_id = e.id ORDER BY c.hits DESC, e.id"
            )
        _SQL[key] = text(sql)
    return _SQL[key]


_SQL: dict[tuple[str, int, int], TextClause] = {}


def _params(grams: list[str]) -> dict[str, str]:
    return {f"g{i}": g for i, g in enumerate(grams)}


def fuzzy_by_name(
    name: str, *, cutoff: float = SEARCH_RATIO, limit: int = 10, partial: bool = False
) -> list[tuple[Enterprise, float]]:
    """Enterprises with a similar name, best first, as (enterprise, difflib ratio of the name keys).

    Candidates come from the bigram index: the enterprises sharing the most of the name's rare
    bigrams (a bigram in more than GRAM_POSTINGS names, such as a city or "贸易", narrows nothing
    and is left out unless all are that common); only those few are scored with difflib.
    With `partial`, a name that contains the searched text also counts (the search box).
    """
    key = name_key(name)
    grams = sorted(name_grams(key))[:MAX_GRAMS]
    if not grams:
        return []
    conn = session.connection()  # Core execution: the ORM layer would cost more than these queries
    counts = conn.execute(_statement("counts", len(grams)), _params(grams)).all()
    rare = [grams[i] for i, n in counts if 0 < n <= GRAM_POSTINGS]
    if rare:
        size = FUZZY_POOL if len(rare) > 2 else FUZZY_POOL_FEW
        rows = conn.execute(_statement("pool", len(rare), size), _params(rare)).all()
    elif any(n for _i, n in counts):
        rows = conn.execute(_statement("capped", len(grams)), _params(grams)).all()
    else:
        return []
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(key)
    scored: list[tuple[float, int]] = []
    bounded: list[tuple[float, int, str]] = []
    for ent_id, other, _hits in rows:
        if partial and len(key) >= 2 and key in other:
            # the search box: part of a name ("星辰供应链") finds the whole name
            scored.append((max(cutoff, 0.6 + 0.4 * len(key) / len(other)), ent_id))
            continue
        matcher.set_seq1(other)
        bound = matcher.quick_ratio()  # an upper bound of ratio(), much cheaper
        if bound >= cutoff:
            bounded.append((bound, ent_id, other))
    # exact ratios, most promising first; stop once no bound can beat the `limit` best found
    bounded.sort(key=lambda b: (-b[0], b[1]))
    for bound, ent_id, other in bounded:
        if len(scored) >= limit and bound < sorted(r for r, _ in scored)[-limit]:
            break
        matcher.set_seq1(other)
        ratio = matcher.ratio()
        if ratio >= cutoff:
            scored.append((ratio, ent_id))
    scored.sort(key=lambda s: (-s[0], s[1]))
    scored = scored[:limit]
    if not scored:
        return []
    ids = [i for _, i in scored]
    loaded = {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_(ids)))}
    return [(loaded[i], round(r, 3)) for r, i in scored if i in loaded]


def by_sender(email: str) -> list[Enterprise]:
    """Enterprises this address belongs to: contact e-mail, account e-mail, or an earlier linked ticket."""
    email = email_key(email)
    if not email:
        return []
    ids = union(
        select(Enterprise.id).where(Enterprise.contact_email == email),
        select(PlatformAccount.enterprise_id).where(PlatformAccount.email == email),
        select(_tickets.c.enterprise_id).where(
            _tickets.c.requester_email == email, _tickets.c.enterprise_id.is_not(None)
        ),
    ).subquery()
    return list(
        session.scalars(select(Enterprise).where(Enterprise.id.in_(select(ids.c[0]))).order_by(Enterprise.id))
    )


def candidates(
    *,
    usccs: Iterable[str] = (),
    org_codes: Iterable[str] = (),
    accounts: Iterable[str] = (),
    names: Iterable[str] = (),
    sender: str = "",
) -> list[Enterprise]:
    """Every enterprise the evidence points to, strongest evidence first, without duplicates.

    Codes, accounts and exact names come first; a name with no exact match adds the enterprises whose
    name is nearly identical (ratio >= AUTO_LINK_RATIO); the sender's address is used only when
    nothing else matched.
    """
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
        exact = by_name(name)
        add(exact)
        if not exact:
            add(e for e, _ in fuzzy_by_name(name, cutoff=AUTO_LINK_RATIO, limit=3))
    if not found:
        add(by_sender(sender))
    return list(found.values())


def search(query: str, *, limit: int = 30) -> list[Match]:
    """The records search box: any key (USCC, organisation code, account, e-mail, name), best first."""
    q = (query or "").strip()
    if not q:
        return []
    out: dict[int, Match] = {}

    def add(enterprise: Enterprise | None, via: str, score: float = 1.0, detail: str = "") -> None:
        if enterprise is not None and enterprise.id not in out:
            out[enterprise.id] = Match(enterprise, via, score, detail)

    code = normalize_org_code(q)
    if len(code) == 18 and code.isalnum() and code.isascii():
        add(by_uscc(code), "uscc")
    if len(code) == 9 and code.isalnum() and code.isascii():
        for e in by_org_code(code):
            add(e, "org_code")
    if "@" in q:
        for e in by_sender(q):
            add(e, "email", detail=email_key(q))
    row = account_row(q)
    if row is not None:
        add(row.enterprise, "account", detail=row.account_name)
    for e in by_name(q):
        add(e, "name")
    if len(out) < limit and not (q.isascii() and "@" in q):
        for e, ratio in fuzzy_by_name(q, limit=limit, partial=True):
            add(e, "fuzzy", ratio)
    return list(out.values())[:limit]


#: what `candidates` takes, as one hashable value: (usccs, org_codes, accounts, names, sender)
Evidence = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], str]


def candidates_many(evidences: Iterable[Evidence]) -> dict[Evidence, list[Enterprise]]:
    """`candidates` for many pieces of evidence at once (a chunk of incoming mail), the same answers
    in the same order, with one query per kind of key instead of one per key and mail."""
    todo = list(dict.fromkeys(evidences))
    usccs = {normalize_uscc(c) for e in todo for c in e[0]} - {""}
    by_code = {
        row.uscc: row
        for row in (
            session.scalars(
                select(Enterprise).where(Enterprise.uscc.in_(sorted(c for c in usccs if len(c) == 18)))
            )
            if any(len(c) == 18 for c in usccs)
            else ()
        )
    }
    orgs = sorted({c for e in todo for c in map(normalize_org_code, e[1]) if len(c) == 9})
    by_org: dict[str, list[Enterprise]] = {}
    if orgs:
        for row in session.scalars(
            select(Enterprise).where(Enterprise.org_code.in_(orgs)).order_by(Enterprise.id)
        ):
            by_org.setdefault(row.org_code or "", []).append(row)
    variants = sorted({v for e in todo for a in e[2] for v in account_variants(a)})
    accounts = (
        list(session.scalars(select(PlatformAccount).where(PlatformAccount.account_name.in_(variants))))
        if variants
        else []
    )
    keys = sorted({k for e in todo for k in map(name_key, e[3]) if k})
    by_key: dict[str, list[Enterprise]] = {}
    if keys:
        for row in session.scalars(
            select(Enterprise).where(Enterprise.name_key.in_(keys)).order_by(Enterprise.id)
        ):
            by_key.setdefault(row.name_key or "", []).append(row)
    fuzzy: dict[str, list[Enterprise]] = {}

    def account_enterprise(account: str) -> Enterprise | None:  # account_row on the prefetched rows
        names = account_variants(account)
        rows = [r for r in accounts if r.account_name in names]
        exact = account_key(account)
        rows.sort(key=lambda r: (r.account_name != exact, r.status != "active", r.id))
        return rows[0].enterprise if rows else None

    out: dict[Evidence, list[Enterprise]] = {}
    for evidence in todo:
        found: dict[int, Enterprise] = {}
        usccs_e, orgs_e, accounts_e, names_e, sender = evidence
        for row in (by_code.get(normalize_uscc(c)) for c in usccs_e):
            if row is not None:
                found.setdefault(row.id, row)
        for code in orgs_e:
            for row in by_org.get(normalize_org_code(code), []):
                found.setdefault(row.id, row)
        for account in accounts_e:
            row = account_enterprise(account)
            if row is not None:
                found.setdefault(row.id, row)
        for name in names_e:
            exact = by_key.get(name_key(name), []) if name_key(name) else []
            for row in exact:
                found.setdefault(row.id, row)
            if not exact:
                if name not in fuzzy:
                    fuzzy[name] = [e for e, _ in fuzzy_by_name(name, cutoff=AUTO_LINK_RATIO, limit=3)]
                for row in fuzzy[name]:
                    found.setdefault(row.id, row)
        out[evidence] = list(found.values())
    senders = sorted({email_key(e[4]) for e, found in out.items() if not found} - {""})
    if senders:
        pairs = union(
            select(Enterprise.contact_email, Enterprise.id).where(Enterprise.contact_email.in_(senders)),
            select(PlatformAccount.email, PlatformAccount.enterprise_id).where(
                PlatformAccount.email.in_(senders)
            ),
            select(_tickets.c.requester_email, _tickets.c.enterprise_id).where(
                _tickets.c.requester_email.in_(senders), _tickets.c.enterprise_id.is_not(None)
            ),
        )
        ids_by_sender: dict[str, set[int]] = {}
        for email, ent_id in session.execute(pairs):
            ids_by_sender.setdefault(email, set()).add(ent_id)
        wanted = sorted({i for ids in ids_by_sender.values() for i in ids})
        loaded = (
            {e.id: e for e in session.scalars(select(Enterprise).where(Enterprise.id.in_(wanted)))}
            if wanted
            else {}
        )
        for evidence, found in out.items():
            if not found:
                ids = sorted(ids_by_sender.get(email_key(evidence[4]), ()))
                out[evidence] = [loaded[i] for i in ids if i in loaded]
    return out
