"""Field extraction, the company name: title slot, "我们是…", labels, signature, licence."""

from __future__ import annotations

import re

from .view import MASK, Cand, View, _cand, _clean

# --- company name ---------------------------------------------------------------------------------

ORG_SUFFIX = (
    r"(?:有限责任公司|股份有限公司|有限公司|分公司|公司|集团|总厂|厂|合作社|联合社|中心|商行|经营部|"
    r"事务所|研究院|研究所|工作室|商店|门市部|贸易行)"
)
_ORG_END = re.compile(ORG_SUFFIX + r"(?:\([^()]{1,12}\))?$")
_PRONOUNS = re.compile(
    r"^(?:兹有|兹|我司|我公司|本公司|我单位|本单位|我们|本企业|我企业|贵司|该公司|特此说明!?)+"
)
_NOT_NAMES = re.compile(r"商务部|项目组|统一平台|管理应用|专项资金|账号|说明")
_STOP_WORDS = re.compile(
    r"在|于|现|因|由于|申请|特此|的|已|需|要|将|就|拥有|存在|有\d|有[一二两三四五六七八九十]"
)

_C_SLOT = re.compile(
    r"(?:^|[:。!?;]|项目组|您好|你好)\s*(?P<v>[^:;,。!?"
    + MASK
    + r"]{2,80}?)(?:\([^()]{0,60}\))?["
    + MASK
    + r"\s]*(?:目前)?在\s*(?:商务部)?\s*"
    r"(?:业务系统)?\s*(?:统一)?\s*(?:管理)?平台"
)
_C_LABEL = re.compile(
    r"(?:公司|企业|单位|申请单位|申请企业)(?:全称|名称)\s*[:为是]\s*(?P<v>[^:;,。!?\t\n " + MASK + r"]{2,60})"
)
_C_WE = re.compile(
    r"(?:我司|我公司|本公司|我单位|本单位|(?:我们|我方|这边|这里)(?:公司)?\s*(?:是|系|为))\s*[(“\"]?\s*(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60})"
)
_C_LICENCE = re.compile(r"(?:名\s*称|企业名称|公司名称)\s*:?\s*(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60})")
_SIG_LINE = re.compile(
    r"^[\s"
    + MASK
    + r"]*(?:(?:单位|公司|企业)(?:名称)?[:]\s*)?(?P<v>[\u4e00-\u9fff][\u4e00-\u9fff()]{1,60}?)[\s"
    + MASK
    + r"]*(?:\((?:盖章|公章|签章|章)\))?[\s"
    + MASK
    + r"]*$"
)


def _org_name(v: str) -> str | None:
    """A company name out of a captured span: pronouns off, must look like an organisation."""
    v = _clean(v)
    v = _PRONOUNS.sub("", v)
    v = re.sub(r"^.*项目组:?", "", v)
    v = re.sub(r"\((?:盖章|公章|签章|章)\)$", "", v).strip()
    # "…有限公司(统一社会信用代码…)": the remark is not part of the name
    v = re.sub(
        r"(" + ORG_SUFFIX + r")\((?:[^()]*(?:代码|账号|简称|以下)[^()]*|[^()]*[A-Za-z0-9][^()]*)\)?$",
        r"\1",
        v,
    )
    if len(v) < 4 or not re.search(r"[\u4e00-\u9fff]", v) or _NOT_NAMES.search(v):
        return None
    return v


def _org_prefix(run: str) -> str | None:
    """The longest prefix of `run` that ends with an organisation suffix, before any stop word."""
    stop = _STOP_WORDS.search(run, 2)
    head = run[: stop.start()] if stop else run
    best = None
    for m in re.finditer(ORG_SUFFIX, head):
        best = head[: m.end()]
    # keep a bracketed tail such as "有限公司(北京)", never "(统一社会信用代码…)" or "(账号…)"
    if best is not None:
        tail = re.match(r"\([\u4e00-\u9fff]{2,6}\)", head[len(best) :])
        if tail and re.search(r"代码|账号|盖章|公章|签章|以下|简称", tail.group(0)):
            tail = None
        if tail:
            best += tail.group(0)
    return best


def extract_company(v: View, *, licence: bool = False) -> list[Cand]:
    out: list[Cand] = []
    s = v.s
    if licence:
        for m in _C_LICENCE.finditer(v.ls):
            name = _org_prefix(m.group("v"))
            if name and _org_name(name):
                i = m.start("v")
                out.append(_cand(v, "company_name", name, i, i + len(name), 0.7, lines=True))
                break
        return out
    for m in _C_LABEL.finditer(v.ls):
        name = _org_name(m.group("v"))
        if name:
            out.append(_cand(v, "company_name", name, m.start("v"), m.end("v"), 0.95, lines=True))
            break
    for m in _C_SLOT.finditer(s):
        raw = m.group("v")
        name = _org_name(raw)
        if name:
            i = m.start("v") + raw.find(name[:2]) if name[:2] in raw else m.start("v")
            conf = 0.95 if _ORG_END.search(name) else 0.75
            out.append(_cand(v, "company_name", name, i, i + len(name), conf))
            break
    # signature: a line that is just an organisation name, after "特此说明" or at the end
    lines = v.ls.split("\n")
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    tail_from = 0
    for k, line in enumerate(lines):
        if "特此" in line:
            tail_from = k
    if tail_from == 0:
        tail_from = max(0, len(lines) - 4)
    for k in range(len(lines) - 1, tail_from - 1, -1):
        line = lines[k]
        m = _SIG_LINE.match(line)
        if not m:
            continue
        name = m.group("v")
        if _ORG_END.search(name) and _org_name(name):
            i = offsets[k] + m.start("v")
            out.append(_cand(v, "company_name", name, i, i + len(name), 0.9, lines=True))
            break
    for m in _C_WE.finditer(s):
        name = _org_prefix(m.group("v"))
        if name and _org_name(name):
            i = m.start("v")
            out.append(_cand(v, "company_name", name, i, i + len(name), 0.85))
            break
    return out
