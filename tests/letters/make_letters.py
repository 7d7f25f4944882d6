"""Deterministic letters with known truth, for tests and bench/letters.py.

``make_case(seed, kind=..., source=...)`` returns a `Case`: a ParsedMail and the truth (type and
expected field values, as `read()` should return them). Sources: "docx", "pdf" (a text PDF written
by hand: Type0 font, Identity-H, ToUnicode map; no font embedded, so it is for text extraction, not
for viewing), "body" (the letter pasted into the mail), "scan" (JPEG through tests/letters/
scanmaker.py, when present). Wording varies by seed: the template's words, other words ("我司…",
"账号为", "申请注销账号：…"), labelled lines; full-width digits, spaces in codes, Chinese numerals.
"""

from __future__ import annotations

import io
import random
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from helpdesk.letters.codes import USCC_ALPHABET, org_check_char, uscc_check_char
from helpdesk.mail.parsed import MailAttachment, ParsedMail

TODAY = date(2026, 11, 25)
ADDRESSEE = "外贸发展专项资金（中小）网络管理应用项目组："
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"

CITIES = [
    "上海",
    "北京",
    "深圳",
    "广州",
    "杭州",
    "宁波",
    "苏州",
    "青岛",
    "厦门",
    "成都",
    "武汉",
    "天津",
    "南京",
    "义乌",
    "东莞",
]
CORES = [
    "浦江",
    "华强",
    "远洋",
    "恒信",
    "嘉禾",
    "金桥",
    "东方",
    "瑞丰",
    "新海",
    "宏达",
    "联创",
    "星辰",
    "海纳",
    "富源",
    "汇通",
]
TRADES = ["贸易", "进出口", "电子", "纺织", "机械", "食品", "科技", "服饰", "化工", "家居"]
SUFFIXES = ["有限公司", "有限责任公司", "股份有限公司"]
REASONS = [
    "资质审核异常",
    "项目无法申报",
    "账号重复注册",
    "原经办人离职，账号无法继续使用",
    "注册时统一社会信用代码填写错误",
    "企业资质信息有误",
]
PINYIN = [
    "pujiang",
    "huaqiang",
    "yuanyang",
    "hengxin",
    "jiahe",
    "jinqiao",
    "dongfang",
    "ruifeng",
    "xinhai",
    "hongda",
]
NAMES = ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "周婷"]
CN_DIGIT = "〇一二三四五六七八九"


@dataclass
class Case:
    name: str
    mail: ParsedMail
    truth: dict[str, object]  #: "type" and the expected value of each field stated in the letter
    source: str
    absent: set[str] = field(default_factory=set)  #: fields that must NOT be found
    letter_text: str = ""


# --- values ---------------------------------------------------------------------------------------


def make_org_code(rng: random.Random) -> str:
    """Mostly 8 digits; newer codes start with "MA" and mix letters in."""
    if rng.random() < 0.7:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    else:
        body = "MA" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(6))
    return body + org_check_char(body)


def make_uscc(rng: random.Random) -> str:
    body = rng.choice(["91", "91", "91", "92", "93", "52"]) + "".join(
        rng.choice("0123456789") for _ in range(6)
    )
    body += make_org_code(rng)
    return body + uscc_check_char(body)


def broken_uscc(good: str, rng: random.Random) -> str:
    """`good` with one position changed to another alphabet character (fails its check)."""
    i = rng.randrange(18)
    choices = [c for c in USCC_ALPHABET if c != good[i]]
    return good[:i] + rng.choice(choices) + good[i + 1 :]


def broken_org_code(good: str, rng: random.Random) -> str:
    """`good` with one character changed so that its check fails."""
    while True:
        i = rng.randrange(9)
        c = rng.choice("0123456789")
        bad = good[:i] + c + good[i + 1 :]
        if bad != good and org_check_char(bad[:8]) != bad[8]:
            return bad


def make_company(rng: random.Random) -> str:
    city, core, trade = rng.choice(CITIES), rng.choice(CORES), rng.choice(TRADES)
    if rng.random() < 0.15:
        return f"{core}{trade}（{city}）有限公司"
    return f"{city}{core}{trade}{rng.choice(SUFFIXES)}"


def make_account(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return f"zxkt_{rng.choice(PINYIN)}{rng.randint(1, 999):02d}"
    if r < 0.75:
        return f"{rng.choice(PINYIN)}_{rng.choice(['trade', 'imp', 'exp', 'co'])}{rng.randint(1, 99):02d}"
    if r < 0.9:
        return f"{rng.choice(PINYIN)}{rng.randint(1000, 99999)}"
    return f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}"


def cn_number(n: int) -> str:
    return "两" if n == 2 else "一二三四五六七八九"[n - 1]


def cn_date(d: date) -> str:
    def small(n: int) -> str:
        if n < 10:
            return CN_DIGIT[n]
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else CN_DIGIT[tens]) + "十" + (CN_DIGIT[ones] if ones else "")

    return "".join(CN_DIGIT[int(c)] for c in str(d.year)) + f"年{small(d.month)}月{small(d.day)}日"


def fmt_date(d: date, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return f"{d.year}年{d.month}月{d.day}日"
    if r < 0.8:
        return d.isoformat()
    return cn_date(d)


def fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def spaced_code(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


# --- letter text ----------------------------------------------------------------------------------


def letter(kind: str, rng: random.Random, *, style: str | None = None) -> tuple[list[str], dict[str, object]]:
    """(lines, truth) of a filled-in letter; lines[0] is the title, the last two the signature."""
    style = style or rng.choice(["template", "template", "words", "labels"])
    company = make_company(rng)
    reason = rng.choice(REASONS)
    day = TODAY - timedelta(days=rng.randint(0, 40))
    truth: dict[str, object] = {"type": kind, "company_name": nfkc(company), "letter_date": day.isoformat()}
    sig_company = company + rng.choice(["", "（盖章）", "（公章）"])
    lines: list[str]
    if kind == "change":
        account = make_account(rng)
        if rng.random() < 0.3:
            what = "组织机构代码"
            org = make_org_code(rng)
            bad = broken_org_code(org, rng)
            new, old = f"{org[:8]}-{org[8]}", f"{bad[:8]}-{bad[8]}"
            new_v, old_v = new, old
            truth["org_code"] = [new]
        else:
            what = "统一社会信用代码"
            new = make_uscc(rng)
            old = broken_uscc(new, rng)
            new_v, old_v = new, old
            truth["uscc"] = [new]
        shown_new = (
            spaced_code(new) if rng.random() < 0.2 else (fullwidth(new) if rng.random() < 0.2 else new)
        )
        truth.update(account_names=[account], reason=nfkc(reason), old_value=old_v, new_value=new_v)
        title = "变更说明"
        if style == "template":
            body = (
                f"{company}在商务部业务系统统一平台账号{account}，由于{reason}原因，现申请更改商务部业务系统统一平台"
                f"外贸发展专项资金（中小）网络管理应用{what}，由{old}变更为{shown_new}，变更后对企业之前申报项目无影响。"
            )
            truth["modification"] = what
        elif style == "words":
            body = (
                f"本公司（{company}）的统一平台账号为{account}。因{reason}，需将{what}由{old}更正为{shown_new}，"
                f"更正后对企业之前申报项目无影响。"
            )
        else:
            body = (
                f"公司名称：{company}\n统一平台账号：{account}\n修改原因：{reason}\n具体修改内容：{what}\n"
                f"原{what}：{old}；\n正确的{what}：{shown_new}"
            )
            truth["modification"] = what
        lines = [title, ADDRESSEE, *body.split("\n"), "特此说明！", sig_company, fmt_date(day, rng)]
        return lines, truth
    verb = "解绑" if kind == "unbind" else "注销"
    n = rng.choice([2, 2, 2, 3, 3, 4])
    accounts: list[str] = []
    while len(accounts) < n:
        a = make_account(rng)
        if a not in accounts:
            accounts.append(a)
    target = rng.choice(accounts)
    sep = rng.choice(["、", "、", "，", "；", " 和 "])
    listed = sep.join(accounts) if sep != " 和 " else "、".join(accounts[:-1]) + "和" + accounts[-1]
    count = rng.choice([f"{n}个", f"{cn_number(n)}个", f" {n} 个", f"{fullwidth(str(n))}个"])
    truth.update(account_names=accounts, account_count=n, target_accounts=[target], reason=nfkc(reason))
    if style == "template":
        body = (
            f"{company}在商务部业务系统统一平台存在{count}账号，账号信息分别是{listed}，由于{reason}原因，"
            f"现申请{verb}{target}，账号{verb}后对企业之前申报项目无影响。"
        )
    elif style == "words":
        body = (
            f"我司{company}在商务部业务系统统一平台共有{count}账号，分别为{listed}。因{reason}，"
            f"现申请{verb}账号：{target}。{verb}后对我司之前申报的项目无影响。"
        )
    else:
        body = (
            f"企业名称：{company}\n我司在统一平台注册了{count}账号：{listed}\n申请{verb}的账号：{target}\n"
            f"{verb}原因：{reason}"
        )
    if rng.random() < 0.3:
        uscc = make_uscc(rng)
        body += f"\n统一社会信用代码：{spaced_code(uscc) if rng.random() < 0.5 else uscc}"
        truth["uscc"] = [uscc]
    lines = [f"{verb}说明", ADDRESSEE, *body.split("\n"), "特此说明！", sig_company, fmt_date(day, rng)]
    if rng.random() < 0.3:
        person, phone = rng.choice(NAMES), f"13{rng.randint(0, 999999999):09d}"
        lines.insert(-2, f"联系人：{person}，电话：{phone}")
        truth["contact"] = f"{person} {phone}"
    return lines, truth


def licence_lines(company: str, uscc: str, rng: random.Random) -> list[str]:
    return [
        "营 业 执 照",
        f"统一社会信用代码 {uscc}",
        f"名称 {company}",
        "类型 有限责任公司（自然人投资或控股）",
        f"法定代表人 {rng.choice(NAMES)}",
        f"注册资本 人民币{rng.randint(1, 99) * 100}万元",
        f"成立日期 20{rng.randint(0, 20):02d}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        f"住所 {rng.choice(CITIES)}市某区某路{rng.randint(1, 999)}号",
        "登记机关 市场监督管理局",
    ]


# --- files ----------------------------------------------------------------------------------------


def seal_png(company: str = "", size: int = 300) -> bytes:
    """A red round seal (ring and star) as PNG, like an electronic seal pasted into a Word file."""
    from PIL import Image, ImageDraw

    im = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    d = ImageDraw.Draw(im)
    red = (214, 36, 44, 255)
    d.ellipse((6, 6, size - 6, size - 6), outline=red, width=max(6, size // 30))
    cx = cy = size / 2
    import math

    pts = []
    for k in range(10):
        r = size * (0.16 if k % 2 == 0 else 0.065)
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    d.polygon(pts, fill=red)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def docx_bytes(
    lines: list[str], *, layout: str = "plain", seal: bool = False, break_name: bool = False
) -> bytes:
    """A Word letter: title centred and bold, signature right-aligned.

    layout "table" puts the body into a one-cell table; "textbox" puts the signature into a VML
    text box; "header" adds a letterhead in the page header.
    """
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import parse_xml

    doc = docx.Document()
    title, *rest = lines
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    r = p.add_run(title)
    r.bold = True
    body, sig = rest[:-2], rest[-2:]
    if layout == "header":
        doc.sections[0].header.paragraphs[0].text = "外贸业务往来函件"
    if layout == "table":
        cell = doc.add_table(rows=1, cols=1).cell(0, 0)
        cell.paragraphs[0].text = body[0]
        for line in body[1:]:
            cell.add_paragraph(line)
    else:
        for k, line in enumerate(body):
            p = doc.add_paragraph()
            if break_name and k == 1 and len(line) > 6:
                # a manual line break inside the first words (the company name)
                p.add_run(line[:3])
                p.add_run().add_break()
                p.add_run(line[3:])
            else:
                p.add_run(line)
    if layout == "textbox":
        ns = (
            'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
            'xmlns:v="urn:schemas-microsoft-com:vml"'
        )
        paras = "".join(
            f'<w:p><w:pPr><w:jc w:val="right"/></w:pPr><w:r><w:t>{x}</w:t></w:r></w:p>' for x in sig
        )
        xml = (
            f'<w:p {ns}><w:r><w:pict><v:shape style="width:200pt;height:60pt"><v:textbox>'
            f"<w:txbxContent>{paras}</w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>"
        )
        doc.element.body.insert(len(doc.element.body) - 1, parse_xml(xml))
    else:
        for line in sig:
            p = doc.add_paragraph(line)
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if seal:
        doc.add_paragraph().add_run().add_picture(io.BytesIO(seal_png()), width=docx.shared.Cm(4))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def _wrap(line: str, width: int) -> list[str]:
    """Wrap like Word: anywhere between Chinese characters, never inside a run of Latin letters/digits."""
    tokens: list[str] = []
    for ch in line:
        if (
            tokens
            and ch.isascii()
            and ch not in " "
            and tokens[-1][-1:].isascii()
            and tokens[-1][-1:] not in " "
        ):
            tokens[-1] += ch
        else:
            tokens.append(ch)
    out, cur = [], ""
    for t in tokens:
        if len(cur) + len(t) > width and cur:
            out.append(cur)
            cur = ""
        cur += t
    if cur:
        out.append(cur)
    return out


def text_pdf(pages: list[list[str]], *, images: list[bytes] | None = None, width: int = 34) -> bytes:
    """A PDF with a real text layer (Type0 / Identity-H, CIDs mapped back to Unicode by a ToUnicode
    CMap) and optional JPEG images (one per page, bottom right: a pasted e-seal)."""
    chars = sorted({c for page in pages for line in page for c in line} | {" "})
    cid = {c: i + 1 for i, c in enumerate(chars)}
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    def stream(data: bytes, extra: str = "") -> bytes:
        return f"<< /Length {len(data)} {extra}>>\nstream\n".encode() + data + b"\nendstream"

    bf = []
    for c, n in cid.items():
        code = c.encode("utf-16-be").hex().upper()
        bf.append(f"<{n:04X}> <{code}>")
    cmap_body = "\n".join(
        f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar"
        for chunk in (bf[i : i + 100] for i in range(0, len(bf), 100))
    )
    cmap = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        f"{cmap_body}\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    ).encode()
    tounicode = add(stream(cmap))
    desc = add(
        b"<< /Type /FontDescriptor /FontName /NotoSansCJKsc-Regular /Flags 4 /FontBBox [0 -200 1000 900] "
        b"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 700 /StemV 80 >>"
    )
    cidfont = add(
        f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /NotoSansCJKsc-Regular "
        f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /FontDescriptor {desc} 0 R /DW 1000 >>".encode()
    )
    font = add(
        f"<< /Type /Font /Subtype /Type0 /BaseFont /NotoSansCJKsc-Regular /Encoding /Identity-H "
        f"/DescendantFonts [{cidfont} 0 R] /ToUnicode {tounicode} 0 R >>".encode()
    )
    page_ids = []
    pages_id_placeholder = len(objs) + 1
    add(b"")  # the Pages object, filled in below
    for k, page in enumerate(pages):
        ops = ["BT", "/F1 14 Tf"]
        y = 780.0
        for n, line in enumerate(page):
            wrapped = _wrap(line, width) if n > 0 else [line]
            for part in wrapped:
                x = 297.5 - 7 * len(part) if n == 0 else (340.0 if n >= len(page) - 2 else 60.0)
                hexs = "".join(f"{cid[c]:04X}" for c in part)
                ops.append(f"1 0 0 1 {x:.1f} {y:.1f} Tm <{hexs}> Tj")
                y -= 22
        ops.append("ET")
        xobj = ""
        img = images[k] if images and k < len(images) else None
        if img is not None:
            from PIL import Image

            with Image.open(io.BytesIO(img)) as im:
                w, h = im.size
            im_id = add(
                stream(
                    img,
                    f"/Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode ",
                )
            )
            xobj = f"/XObject << /Im1 {im_id} 0 R >>"
            ops.append(f"q 110 0 0 110 380 {max(40.0, y - 40):.1f} cm /Im1 Do Q")
        content = add(stream(zlib.compress("\n".join(ops).encode()), "/Filter /FlateDecode "))
        page_ids.append(
            add(
                f"<< /Type /Page /Parent {pages_id_placeholder} 0 R /MediaBox [0 0 595 842] "
                f"/Resources << /Font << /F1 {font} 0 R >> {xobj} >> /Contents {content} 0 R >>".encode()
            )
        )
    objs[pages_id_placeholder - 1] = (
        f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {len(page_ids)} >>".encode()
    )
    catalog = add(f"<< /Type /Catalog /Pages {pages_id_placeholder} 0 R >>".encode())
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{n} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objs) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def seal_jpeg() -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(seal_png())) as im:
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im, mask=im.split()[3])
    buf = io.BytesIO()
    bg.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def text_image(
    lines: list[str], *, fmt: str = "PNG", size: tuple[int, int] = (1240, 1754), red_seal: bool = False
) -> bytes:
    """A clean rendering of `lines` (for licences and simple scans), 150 dpi A4."""
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(im)
    f = ImageFont.truetype(FONT, 34, index=2)
    y = 120
    for line in lines:
        for part in _wrap(line, 30):
            d.text((110, y), part, font=f, fill=(20, 20, 20))
            y += 56
    if red_seal:
        from PIL import Image as _I

        seal = _I.open(io.BytesIO(seal_png(size=320)))
        im.paste(seal, (size[0] - 480, y - 200), seal)
    buf = io.BytesIO()
    im.save(buf, fmt, quality=85) if fmt == "JPEG" else im.save(buf, fmt)
    return buf.getvalue()


def make_mail(
    *,
    subject: str = "",
    text: str = "",
    attachments: list[tuple[str, bytes]] | None = None,
    sender: str = "qiye@example.com",
) -> ParsedMail:
    atts = tuple(MailAttachment(name, "application/octet-stream", data) for name, data in attachments or [])
    return ParsedMail(
        message_id=f"sha256:{zlib.crc32(subject.encode() + text.encode()):08x}",
        in_reply_to=None,
        references=(),
        sender=sender,
        sender_name="",
        to=("zxzj@ec.com.cn",),
        cc=(),
        subject=subject,
        date=None,
        text=text,
        html="",
        attachments=atts,
    )


# --- cases ----------------------------------------------------------------------------------------

_TITLES = {"change": "变更说明", "unbind": "解绑说明", "cancel": "注销说明"}


def make_case(
    seed: int,
    *,
    kind: str | None = None,
    source: str | None = None,
    style: str | None = None,
    licence: str = "any",
) -> Case:
    """One letter mail with its truth, all decided by `seed`.

    `licence` (unbind and cancel letters): "any" (an image or a text PDF, decided by the seed),
    "pdf", "image" or "none".
    """
    rng = random.Random(seed)
    kind = kind or rng.choice(["change", "unbind", "cancel"])
    source = source or rng.choice(["docx", "pdf", "body"])
    lines, truth = letter(kind, rng, style=style)
    company = str(truth["company_name"])
    subject = rng.choice(
        [
            _TITLES[kind],
            f"{company}{_TITLES[kind]}",
            f"Re: [ZXZJ#{rng.randint(1, 999)}] {_TITLES[kind]}",
            "",
            "说明材料",
        ]
    )
    attachments: list[tuple[str, bytes]] = []
    text = rng.choice(["您好，附件是我司的说明材料，请查收。", "老师好，请帮忙处理，谢谢！", ""])
    fname = rng.choice([_TITLES[kind], "说明", "scan001", company])
    if source == "docx":
        layout = rng.choice(["plain", "plain", "table", "textbox", "header"])
        attachments.append(
            (
                f"{fname}.docx",
                docx_bytes(lines, layout=layout, seal=rng.random() < 0.5, break_name=rng.random() < 0.2),
            )
        )
    elif source == "pdf":
        attachments.append(
            (f"{fname}.pdf", text_pdf([lines], images=[seal_jpeg()] if rng.random() < 0.5 else None))
        )
    elif source == "body":
        text = "您好：\n\n" + "\n".join(lines) + "\n\n谢谢！"
    elif source == "scan":
        from tests.letters import scanmaker

        attachments.append(
            (
                f"{fname}.jpg",
                scanmaker.render_scan(
                    "\n".join(lines),
                    seed=seed,
                    dpi=150,
                    seal=True,
                    rotate=rng.uniform(-1.5, 1.5),
                    jpeg_quality=80,
                ),
            )
        )
    else:
        raise ValueError(source)
    if kind in ("unbind", "cancel") and licence != "none":
        uscc = str(truth.get("uscc", [make_uscc(rng)])[0])
        name = rng.choice(["营业执照.jpg", "执照扫描件.png", "IMG_2026.jpg", "营业执照副本.pdf"])
        if licence == "pdf":
            name = "营业执照副本.pdf"
        elif licence == "image" and name.endswith(".pdf"):
            name = "营业执照.jpg"
        data = text_image(
            licence_lines(company, uscc, rng), fmt="JPEG" if name.endswith("jpg") else "PNG", red_seal=True
        )
        if name.endswith(".pdf"):
            data = text_pdf([licence_lines(company, uscc, rng)])
            truth["uscc"] = [uscc]
        attachments.append((name, data))
        if name != "IMG_2026.jpg":  # without OCR nothing tells that this one is the licence
            truth["has_licence"] = True
    rng.shuffle(attachments)
    mail = make_mail(subject=subject, text=text, attachments=attachments)
    return Case(f"{kind}-{source}-{seed}", mail, truth, source, letter_text="\n".join(lines))
