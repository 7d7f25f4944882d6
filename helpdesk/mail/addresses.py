"""Strict mail addresses: is this text exactly the mailbox(es) we mean to write to?

    single_mailbox("张三 <Zhang@Corp.CN>")                 # Checked("Zhang@corp.cn", None)
    single_mailbox('"x" <"a,b@evil.example"@corp.example>')  # Checked(None, "地址的用户名部分…")

The stdlib's header registry (`email.policy.default`) parses the text; on top of it we accept only the
plain form every real mailbox has: an ASCII dot-atom user name at a host name. A quoted or obsolete
user name, a group, a domain literal, a comment trick or a control character is refused: those are the
shapes that make one header mean other recipients to another parser, and no enterprise needs them.
"""

from __future__ import annotations

import re
import unicodedata
from email import policy
from typing import NamedTuple

#: RFC 5322 dot-atom, ASCII only
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
MAX_ADDRESS = 254  #: RFC 5321 path limit


class Checked(NamedTuple):
    address: str | None  #: user@domain, domain lower-cased (IDN as xn--), when the text is valid
    problem: str | None  #: why not, in Chinese, for the ticket's event log or the outbox error


def has_control(text: str) -> bool:
    """True when `text` holds a line break of any class (CR, LF, U+2028, U+0085, ...) or a control character."""
    return any(unicodedata.category(ch) in {"Cc", "Zl", "Zp", "Cs"} for ch in text)


def single_mailbox(text: str) -> Checked:
    """Exactly one valid mailbox in `text` (a From/To header value or a bare address), or why not."""
    found, problem = mailboxes(text)
    if problem:
        return Checked(None, problem)
    if not found:
        return Checked(None, "没有邮箱地址")
    if len(found) > 1:
        return Checked(None, f"地址应当恰好是一个邮箱，实际为 {len(found)} 个")
    return Checked(found[0], None)


def mailboxes(text: str) -> tuple[list[str], str | None]:
    """Every mailbox of an address list (empty text: none), or ([], problem) if any part is not valid."""
    if not text.strip():
        return [], None
    if has_control(text):
        return [], "地址中含有换行或控制字符"
    try:
        header = policy.default.header_factory("To", text)
    except Exception as exc:  # the registry raises on a few malformed inputs instead of noting a defect
        return [], f"地址无法解析（{type(exc).__name__}）"
    if header.defects:
        return [], f"地址格式不合规范（{header.defects[0]}）"
    if any(group.display_name is not None for group in header.groups):
        return [], "地址是一个收件人组，不是邮箱"
    found: list[str] = []
    for address in header.addresses:
        problem = _address_problem(address.username, address.domain)
        if problem:
            return [], problem
        found.append(f"{address.username}@{_ascii_domain(address.domain)}")
    return found, None


def _address_problem(username: str, domain: str) -> str | None:
    if not username or not domain:
        return "地址缺少用户名或域名"
    # a quoted user name may hold "@", "," or spaces: legal, but only ever seen in attacks
    if not _DOT_ATOM.fullmatch(username):
        return "地址的用户名部分不是普通形式（含引号、空格或非 ASCII 字符）"
    try:
        ascii_domain = _ascii_domain(domain)
    except UnicodeError:
        return "地址的域名无效"
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
        return "地址的域名无效（需要形如 example.com 的主机名）"
    if len(username) + 1 + len(ascii_domain) > MAX_ADDRESS:
        return "地址过长"
    return None


def _ascii_domain(domain: str) -> str:
    # IDN (例子.中国) -> xn-- labels: the SMTP envelope and our comparisons stay ASCII
    return domain.lower() if domain.isascii() else domain.encode("idna").decode("ascii").lower()


__all__ = ["Checked", "has_control", "mailboxes", "single_mailbox"]
