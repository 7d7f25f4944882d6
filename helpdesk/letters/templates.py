"""The three blank letter templates of the FAQ as Word documents (python-docx), for replies."""

from __future__ import annotations

import io

ADDRESSEE = "外贸发展专项资金（中小）网络管理应用项目组："

#: title and body of each template, blanks as ("blank", label) parts; text from the FAQ seed
_TEMPLATES: dict[str, tuple[str, list[str | tuple[str, str]]]] = {
    "change": (
        "变更说明",
        [
            ("blank", "（公司名称）"),
            "在商务部业务系统统一平台账号",
            ("blank", "（账号信息）"),
            "，由于",
            ("blank", "（事由）"),
            "原因，现申请更改商务部业务系统统一平台外贸发展专项资金（中小）网络管理应用",
            ("blank", "（具体修改内容）"),
            "，",
            ("blank", "（再次确认修改事项）"),
            "变更后对企业之前申报项目无影响。",
        ],
    ),
    "unbind": (
        "解绑说明",
        [
            ("blank", "（公司名称）"),
            "在商务部业务系统统一平台存在",
            ("blank", "（几个）"),
            "账号，账号信息分别是",
            ("blank", "（账号信息）"),
            "、",
            ("blank", "（账号信息）"),
            "，由于",
            ("blank", "（事由：如资质审核异常、项目无法申报等）"),
            "原因，现申请解绑",
            ("blank", "（账号信息）"),
            "，账号解绑后对企业之前申报项目无影响。",
        ],
    ),
    "cancel": (
        "注销说明",
        [
            ("blank", "（公司名称）"),
            "在商务部业务系统统一平台存在",
            ("blank", "（几个）"),
            "账号，账号信息分别是",
            ("blank", "（账号信息）"),
            "、",
            ("blank", "（账号信息）"),
            "，由于",
            ("blank", "（事由：如资质审核异常、项目无法申报等）"),
            "原因，现申请注销",
            ("blank", "（账号信息）"),
            "，账号注销后对企业之前申报项目无影响。",
        ],
    ),
}
_PAD = "\u3000\u3000"  # ideographic spaces around a blank, underlined like a form field


def _font(run, *, size: float = 14, bold: bool = False) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Pt

    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.name = "SimSun"
    rpr = run._element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), "宋体")


def blank_template(kind: str) -> bytes:
    """The blank 变更说明 / 解绑说明 / 注销说明 (kind "change" / "unbind" / "cancel") as .docx bytes."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    if kind not in _TEMPLATES:
        raise ValueError(f"no template for {kind!r}; expected one of {', '.join(_TEMPLATES)}")
    title, body = _TEMPLATES[kind]
    doc = docx.Document()
    doc.core_properties.title = title
    doc.core_properties.author = "外贸发展专项资金（中小）网络管理应用"

    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(18)
    _font(p.add_run(title), size=22, bold=True)

    _font(doc.add_paragraph().add_run(ADDRESSEE), size=16)

    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = Pt(32)
    p.paragraph_format.line_spacing = 1.5
    for part in body:
        if isinstance(part, tuple):
            run = p.add_run(f"{_PAD}{part[1]}{_PAD}")
            run.font.underline = True
            _font(run, size=16)
            run.font.underline = True
        else:
            _font(p.add_run(part), size=16)

    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = Pt(32)
    p.paragraph_format.space_before = Pt(12)
    _font(p.add_run("特此说明！"), size=16)

    for text in ("XXXX（公司名称、加盖公章）", "XXXX年XX月XX日"):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.space_before = Pt(24) if text.startswith("XXXX（") else Pt(0)
        _font(p.add_run(text), size=16)

    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
