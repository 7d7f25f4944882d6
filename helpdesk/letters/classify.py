"""The type of a mail: change / unbind / cancel / recovery / inquiry, with reasons in Chinese.

Order of evidence: the title of the letter (变更说明 / 解绑说明 / 注销说明) beats everything; then
request sentences in the letter; then keywords in the mail body and subject; then attachment file
names; then the quoted part of a reply; else the mail is an inquiry.
"""

from __future__ import annotations

import re

from helpdesk.vocabulary import TYPE_LABELS

from .text import normalize

_TITLE = re.compile(
    r"(?P<k>变更|修改|更改|更正|解绑|解除绑定|注销|找回)[^\n]{0,14}?(?:说明|申请|函|情况)"
    r"|^关于[^\n]{0,12}?(?P<k2>变更|修改|更改|更正|解绑|解除绑定|注销|找回)"
    r"|^[^\n]{0,10}?(?P<k3>变更|修改|更改|更正|解绑|解除绑定|注销|找回)[^\n]{0,8}$"
)
_TITLE_KIND = {
    "变更": "change",
    "修改": "change",
    "更改": "change",
    "更正": "change",
    "解绑": "unbind",
    "解除绑定": "unbind",
    "注销": "cancel",
    "找回": "recovery",
}
#: a question, not a request: "请问怎么解绑？" is an inquiry whatever it mentions
_QUESTION = re.compile(r"[?？]|请问|怎么|如何|怎样|哪里|哪个|什么|多久|能否|是否|可以吗|吗$|咨询")
_SALUTATION = re.compile(r"项目组|^(?:尊敬的|老师|您好|你好|各位)")
_CLOSING = re.compile(r"特此|此致|敬礼|谢谢|感谢|承诺|特申请|望批准|请予|麻烦")
_DATE_LINE = re.compile(r"(?:19|20|[〇零○一二])\S{2,3}\s*[年./-]\s*\S{1,3}\s*[月./-]\s*\S{1,3}")
_ASK = re.compile(
    r"申请|麻烦|帮忙|帮我们|想把|想要|需要|请.{0,8}?(?:解绑|注销|修改|变更|更正|找回)|(?:解绑|注销)(?:一下|掉)"
    r"|(?:修改|变更|更正|改)(?:为|成)"
)
_PLATFORM = re.compile(r"统一平台|账号|账户|专项资金")

_CODE_WORDS = r"(?:统一社会信用代码|社会信用代码|信用代码|组织机构代码|机构代码|企业名称|公司名称|资质信息|资质|企业代码)"
_KEYWORDS: list[tuple[str, re.Pattern[str]]] = [
    (
        "change",
        re.compile(
            r"(?:变更|修改|更改|更正|修正|改正|填错|写错|错误|有误).{0,12}?"
            + _CODE_WORDS
            + r"|"
            + _CODE_WORDS
            + r".{0,12}?(?:变更|修改|更改|更正|修正|错误|有误|填错|写错)|变更说明"
        ),
    ),
    ("unbind", re.compile(r"解绑|解除绑定|解除.{0,8}?绑定|取消绑定")),
    ("cancel", re.compile(r"注销")),
    (
        "recovery",
        re.compile(
            r"(?:找回|忘记|忘了|不记得|想不起|重置|丢失|遗失|遗忘).{0,8}?(?:账号|帐号|账户|密码|用户名)"
            r"|(?:账号|帐号|密码|用户名).{0,6}?(?:找回|忘记|忘了|重置|丢失|遗失)"
        ),
    ),
]
_REQUEST = {
    "change": re.compile(
        r"(?:申请|想|需要?|要|请|帮忙)\S{0,12}?(?:更改|修改|变更|更正|改)|(?:修改|变更|更正|改)(?:为|成)|正确的?(?:是|为)"
    ),
    "unbind": re.compile(r"(?:申请|想|需要?|要|请|帮忙|帮我们|拟)\S{0,16}?(?:解绑|解除绑定)|解绑(?:一下|掉)"),
    "cancel": re.compile(r"(?:申请|想|需要?|要|请|帮忙|帮我们|拟)\S{0,16}?注销|注销(?:一下|掉)"),
    "recovery": re.compile(r"申请找回|(?:找回|忘记)\S{0,6}?(?:账号|密码|用户名)"),
}
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|fw|fwd|aw|sv|回复|答复|转发)\s*[:：]\s*|\[[^\]]{0,40}#\s*\d+\s*\]\s*)+", re.I
)
_FILENAME_HINTS = [
    ("change", re.compile(r"变更|修改|更正")),
    ("unbind", re.compile(r"解绑|解除绑定")),
    ("cancel", re.compile(r"注销")),
    ("recovery", re.compile(r"找回")),
]


def strip_reply_prefix(subject: str) -> str:
    """The subject without reply/forward prefixes and ticket tags: "Re: [ZXZJ#12] 解绑申请" -> "解绑申请"."""
    return _REPLY_PREFIX.sub("", subject).strip()


def title_type(text: str) -> tuple[str, str] | None:
    """(type, the title line) when one of the first lines of `text` is a letter title.

    Titles besides "…说明": "…申请(表/单)", "关于…的申请", "找回账号申请", "账号注销" and the like;
    a question ("请问怎么解绑？") is never a title.
    """
    lines = [ln.strip() for ln in normalize(text, flat=False).text.split("\n") if ln.strip()]
    for line in lines[:4]:
        bare = re.sub(r"[\s《》<>\"“”【】\[\]]", "", line)
        if len(bare) > 30 or _QUESTION.search(bare) or bare.endswith((":", ",")):
            continue
        m = _TITLE.search(bare)
        if m:
            return _TITLE_KIND[m.group("k") or m.group("k2") or m.group("k3")], line
    return None


def letter_structure(text: str) -> int:
    """How much `text` is laid out like a letter: title, salutation, request, closing, date (0..6)."""
    lines = [ln.strip() for ln in normalize(text, flat=False).text.split("\n") if ln.strip()]
    if not lines:
        return 0
    flat = normalize(text, flat=True).text
    score = 2 if title_type(text) else 0
    score += any(_SALUTATION.search(ln) for ln in lines[:3])
    asks = [ln for ln in re.split(r"[。!;\n]", flat) if _ASK.search(ln) and not _QUESTION.search(ln)]
    score += bool(asks)
    score += bool(_CLOSING.search(flat))
    score += any(_DATE_LINE.search(ln) and len(ln) <= 20 for ln in lines[-3:])
    score += bool(_PLATFORM.search(flat))
    return score


def _keyword_scores(text: str) -> dict[str, int]:
    flat = normalize(text, flat=True).text
    return {kind: len(rx.findall(flat)) for kind, rx in _KEYWORDS if rx.search(flat)}


def _pick(scores: dict[str, int]) -> str | None:
    if not scores:
        return None
    order = ["change", "unbind", "cancel", "recovery"]
    return max(scores, key=lambda k: (scores[k], -order.index(k)))


def classify(
    *,
    letter_texts: list[tuple[str, str]],
    body: str,
    subject: str,
    filenames: list[str],
    quoted: str = "",
) -> tuple[str, tuple[str, ...]]:
    """(type, reasons). `letter_texts` are (source label, text) of the sources read as letters."""
    for label, text in letter_texts:
        hit = title_type(text)
        if hit:
            kind, line = hit
            return kind, (f"{_where(label)}标题为“{line}”",)
    for label, text in letter_texts:
        flat = normalize(text, flat=True).text
        asks = "。".join(c for c in re.split(r"[。!;\n]", flat) if not _QUESTION.search(c))
        found = [k for k, rx in _REQUEST.items() if rx.search(asks)]
        if len(found) > 1 and "recovery" in found:
            found.remove("recovery")  # "忘记密码无法登录，申请注销": the request is the cancel
        if len(found) > 1 and "change" in found:
            found.remove("change")  # "修改" also words unbind and cancel requests
        if len(found) == 1:
            return found[0], (f"{_where(label)}写明“{_REQUEST[found[0]].search(asks).group(0)}”",)
    subj = strip_reply_prefix(subject)
    scores = _keyword_scores(_statements(body))
    subject_scores = {} if _QUESTION.search(subj) else _keyword_scores(subj)
    for kind, n in subject_scores.items():
        scores[kind] = scores.get(kind, 0) + 2 * n
    kind = _pick(scores)
    if kind is not None:
        reasons = [f"邮件{'主题' if subject_scores.get(kind) else '正文'}含“{TYPE_LABELS[kind]}”相关用语"]
        others = [TYPE_LABELS[k] for k in scores if k != kind]
        if others:
            reasons.append(f"也提到：{'、'.join(others)}（以出现较多者为准）")
        return kind, tuple(reasons)
    for name in filenames:
        for kind, rx in _FILENAME_HINTS:
            if rx.search(name):
                return kind, (f"附件名“{name}”",)
    kind = _pick(_keyword_scores(quoted))
    if kind is not None:
        return kind, ("仅在引用的往来邮件中找到相关用语",)
    return "inquiry", ("未找到说明函标题或申请用语，按咨询处理",)


def _statements(text: str) -> str:
    """`text` without its questions: a how-to question names a letter kind without asking for it."""
    flat = normalize(text, flat=False).text
    return "\n".join(c for c in re.split(r"(?<=[。!?？;\n])", flat) if not _QUESTION.search(c))


def _where(label: str) -> str:
    if label.startswith("attachment:"):
        return f"附件《{label.split(':', 1)[1]}》"
    return {"body": "邮件正文", "subject": "邮件主题"}.get(label, label)
