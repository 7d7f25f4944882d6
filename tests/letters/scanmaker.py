"""Synthetic scans of stamped letters, for the OCR and seal tests and for bench/ocr.py.

``render_scan`` lays a letter out on an A4 page in a CJK font, stamps a red round company seal
(ring, star, company name on the arc) over the signature, and degrades the page like a cheap
scanner would (paper tint, blur, noise, specks, a small rotation, JPEG compression).
``render_pdf_scan`` wraps the same page(s) in an image-only PDF.

Layout of ``text`` (one line per paragraph):
- the first line is the title, centred and larger;
- a line ending with a colon right after the title is the salutation (no indent);
- the last two lines are the signature block (company, date), right-aligned;
- every other line is a paragraph with a two-character first-line indent, wrapped to the page.

Everything is deterministic for a given ``seed`` and uses Pillow only.
"""

from __future__ import annotations

import io
import math
import random
import re
import unicodedata
from collections.abc import Sequence
from statistics import NormalDist

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = "/usr/share/fonts/opentype/noto"
# (file, face index): index 2 is the Simplified Chinese face ("Noto Sans CJK SC").
FONTS = {
    "sans": ("NotoSansCJK-Regular.ttc", 2),
    "sans-bold": ("NotoSansCJK-Bold.ttc", 2),
    "serif": ("NotoSerifCJK-Regular.ttc", 2),
    "serif-bold": ("NotoSerifCJK-Bold.ttc", 2),
}

A4_MM = (210.0, 297.0)
SEAL_DIAMETER_MM = 40.0  # the usual size of a company seal (公章)
PAPER = (250, 248, 241)
INK = (28, 28, 32)
SEAL_RED = (214, 36, 44)

_font_cache: dict[tuple[str, int], ImageFont.FreeTypeFont] = {}


def font(kind: str, px: int) -> ImageFont.FreeTypeFont:
    key = (kind, px)
    if key not in _font_cache:
        name, index = FONTS[kind]
        _font_cache[key] = ImageFont.truetype(f"{FONT_DIR}/{name}", px, index=index)
    return _font_cache[key]


def _mm(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def _pt(pt: float, dpi: int) -> int:
    return round(pt / 72 * dpi)


# --------------------------------------------------------------------------- letters


COMPANIES = [
    "宁波海曙恒远进出口有限公司",
    "苏州工业园区博信电子科技有限公司",
    "青岛鑫达国际贸易有限公司",
    "广州市天河区华瑞服饰有限公司",
    "义乌市金源工艺品有限公司",
    "深圳市南山区创联智能设备有限公司",
    "厦门联华食品进出口有限公司",
    "温州瑞丰鞋业有限公司",
    "杭州东信纺织品有限公司",
    "成都蓉欣机械制造有限公司",
    "大连港湾水产贸易有限公司",
    "合肥中科光电技术有限公司",
]

REASONS = [
    "资质审核异常",
    "项目无法申报",
    "注册时填写错误",
    "营业执照换发后代码变更",
    "原经办人离职账号无法使用",
]

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
_ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def make_org_code(rng: random.Random) -> str:
    """A 9-character 组织机构代码 (GB 11714) with a valid check character."""
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random) -> str:
    """An 18-character 统一社会信用代码 (GB 32100-2015) with valid check characters."""
    head = "91" + "".join(rng.choice("0123456789") for _ in range(6))
    body = head + make_org_code(rng)
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def make_account(rng: random.Random, *, recovered: bool | None = None) -> str:
    """A platform account name; back-office recovered ones carry the ``zxkt_`` prefix."""
    if recovered is None:
        recovered = rng.random() < 0.6
    letters = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(rng.randint(3, 5)))
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 6)))
    return ("zxkt_" if recovered else "") + letters + digits


def letter_text(kind: str, *, rng: random.Random) -> tuple[str, dict[str, object]]:
    """One of the three template letters filled in; returns (text, fields)."""
    company = rng.choice(COMPANIES)
    reason = rng.choice(REASONS)
    date = f"{rng.randint(2023, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日"
    fields: dict[str, object] = {"kind": kind, "company": company, "reason": reason, "date": date}
    head = "外贸发展专项资金（中小）网络管理应用项目组："
    if kind == "change":
        account = make_account(rng)
        old, new = make_uscc(rng), make_uscc(rng)
        fields.update(account=account, accounts=[account], old_uscc=old, new_uscc=new, codes=[old, new])
        body = (
            f"{company}在商务部业务系统统一平台账号{account}，由于{reason}原因，"
            f"现申请更改商务部业务系统统一平台外贸发展专项资金（中小）网络管理应用"
            f"统一社会信用代码，由{old}改为{new}，"
            f"确认仅修改统一社会信用代码，变更后对企业之前申报项目无影响。"
        )
        title = "变更说明"
    elif kind in ("unbind", "cancel"):
        n = rng.randint(2, 3)
        accounts = []
        while len(accounts) < n:
            a = make_account(rng)
            if a not in accounts:
                accounts.append(a)
        target = rng.choice(accounts)
        verb = "解绑" if kind == "unbind" else "注销"
        fields.update(accounts=accounts, account=target, count=n, codes=[])
        count_cn = "一二三四五"[n - 1]
        body = (
            f"{company}在商务部业务系统统一平台存在{count_cn}个账号，账号信息分别是"
            f"{'、'.join(accounts)}，由于{reason}原因，现申请{verb}{target}，"
            f"账号{verb}后对企业之前申报项目无影响。"
        )
        title = f"{verb}说明"
    else:
        raise ValueError(kind)
    text = "\n".join([title, head, body, "特此说明！", company, date])
    return text, fields


# --------------------------------------------------------------------------- metrics


def normalise(text: str) -> str:
    """NFKC, no whitespace: what the character error rate compares."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text)


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(expected: str, got: str) -> float:
    """Levenshtein distance over the expected length, both sides normalised."""
    e, g = normalise(expected), normalise(got)
    return edit_distance(e, g) / max(1, len(e))


def substring_distance(needle: str, haystack: str) -> int:
    """Fewest edits turning ``needle`` into some substring of ``haystack`` (Sellers)."""
    needle, haystack = normalise(needle), normalise(haystack)
    prev = list(range(len(needle) + 1))
    best = prev[-1]
    for ch in haystack:
        cur = [0]
        for j, cn in enumerate(needle, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (cn != ch)))
        prev = cur
        best = min(best, prev[-1])
    return best


# --------------------------------------------------------------------------- layout


def _tokens(line: str) -> list[str]:
    """Break points: runs of ASCII letters/digits/_/-/. stay whole, everything else per char."""
    return re.findall(r"[A-Za-z0-9_.@\-]+|.", line)


def _wrap(paragraph: str, fnt: ImageFont.FreeTypeFont, width: int, indent: float) -> list[str]:
    lines: list[str] = []
    cur = ""
    avail = width - indent
    for tok in _tokens(paragraph):
        if cur and fnt.getlength(cur + tok) > avail:
            # no line may start with closing punctuation
            if tok in "，。、；：！？）》”" and cur:
                cur += tok
                tok = ""
            lines.append(cur)
            cur = tok
            avail = width
        else:
            cur += tok
    if cur:
        lines.append(cur)
    return lines


def _layout(
    text: str,
    dpi: int,
    family: str,
    draw: ImageDraw.ImageDraw,
    page_w: int,
    *,
    body_pt: float = 14.0,
    line_spacing: float = 1.75,
    ink: tuple[int, int, int] = INK,
) -> tuple[int, int, int, list[str]]:
    """Draw the letter; return (x-centre, y-top, y-bottom) of the signature block and the lines drawn.

    ``line_spacing`` is the line pitch over the font size: Word's "single" spacing of a CJK font
    is about 1.3, 1.5 and 1.75 are the other usual settings.
    """
    body_font = font(family, _pt(body_pt, dpi))
    title_font = font(family + "-bold", _pt(22, dpi))
    left, right, top = _mm(28, dpi), page_w - _mm(26, dpi), _mm(35, dpi)
    width = right - left
    leading = round(_pt(body_pt, dpi) * line_spacing)
    lines = [ln.strip() for ln in text.strip("\n").split("\n")]
    sig = lines[-2:] if len(lines) >= 4 else []
    main = lines[: len(lines) - len(sig)]
    y = top
    drawn: list[str] = []
    for i, line in enumerate(main):
        if i == 0:
            w = title_font.getlength(line)
            draw.text(((page_w - w) / 2, y), line, font=title_font, fill=ink)
            drawn.append(line)
            y += round(_pt(22, dpi) * 2.4)
            continue
        if not line:
            y += leading
            continue
        indent = 0.0 if (i == 1 and line.endswith(("：", ":"))) else 2 * body_font.getlength("中")
        for j, part in enumerate(_wrap(line, body_font, width, indent)):
            draw.text((left + (indent if j == 0 else 0), y), part, font=body_font, fill=ink)
            drawn.append(part)
            y += leading
    y += leading
    sig_top = y
    widths = [body_font.getlength(s) for s in sig]
    block_right = right - 2 * body_font.getlength("中")
    for s, w in zip(sig, widths, strict=True):
        draw.text((block_right - w, y), s, font=body_font, fill=ink)
        drawn.append(s)
        y += leading
    centre = round(block_right - (max(widths) / 2 if widths else 0))
    return centre, sig_top, y, drawn


# --------------------------------------------------------------------------- seal


def _star(cx: float, cy: float, r: float, rot: float = -math.pi / 2) -> list[tuple[float, float]]:
    pts = []
    for k in range(10):
        rr = r if k % 2 == 0 else r * 0.382
        a = rot + k * math.pi / 5
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def seal_mask(diameter: int, text: str, rng: random.Random, *, family: str = "sans-bold") -> Image.Image:
    """An "L" mask (255 = ink) of a round company seal: ring, star, name along the upper arc."""
    ss = 3  # supersampling
    d = diameter * ss
    m = Image.new("L", (d, d), 0)
    dr = ImageDraw.Draw(m)
    ring = max(2, round(d * 0.034))
    dr.ellipse((0, 0, d - 1, d - 1), outline=255, width=ring)
    dr.polygon(_star(d / 2, d / 2, d * 0.19), fill=255)
    text = text or "示例科技有限公司"
    n = len(text)
    fpx = round(d * min(0.15, 2.4 / max(n, 6)))
    fnt = font(family, fpx)
    r_text = d / 2 - ring - fpx * 0.72
    span = math.radians(min(250.0, 22.0 * n + 30))
    for k, ch in enumerate(text):
        a = -math.pi / 2 - span / 2 + span * (k + 0.5) / n  # from lower left over the top
        glyph = Image.new("L", (fpx * 2, fpx * 2), 0)
        ImageDraw.Draw(glyph).text((fpx, fpx), ch, font=fnt, fill=255, anchor="mm")
        glyph = glyph.rotate(-math.degrees(a + math.pi / 2), resample=Image.BICUBIC)
        gx = d / 2 + r_text * math.cos(a) - fpx
        gy = d / 2 + r_text * math.sin(a) - fpx
        m.paste(255, (round(gx), round(gy)), glyph)
    # a serial number along the bottom, as many seals carry
    num = "".join(rng.choice("0123456789") for _ in range(6))
    nf = font("sans", round(d * 0.07))
    dr.text((d / 2, d * 0.80), num, font=nf, fill=255, anchor="mm")
    m = m.resize((diameter, diameter), Image.LANCZOS)
    # uneven ink: multiply by a blurred random texture in [0.5, 1]
    tex = Image.frombytes("L", (diameter, diameter), rng.randbytes(diameter * diameter))
    tex = tex.filter(ImageFilter.GaussianBlur(diameter / 60))
    tex = tex.point(lambda v: min(255, max(130, (v - 128) * 8 + 225)))
    return ImageChops.multiply(m, tex)


def stamp(
    page: Image.Image,
    mask: Image.Image,
    centre: tuple[int, int],
    rng: random.Random,
    red: tuple[int, int, int] = SEAL_RED,
) -> None:
    """Multiply red ink through ``mask`` onto ``page`` (in place), black text stays on top."""
    mask = mask.rotate(rng.uniform(-25, 25), resample=Image.BICUBIC)
    x, y = centre[0] - mask.width // 2, centre[1] - mask.height // 2
    colour = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in red)
    ink = Image.new("RGB", mask.size, (255, 255, 255))
    ink.paste(Image.new("RGB", mask.size, colour), (0, 0), mask)
    box = (x, y, x + mask.width, y + mask.height)
    page.paste(ImageChops.multiply(page.crop(box), ink), box)


# --------------------------------------------------------------------------- degradation

_GAUSS_LUT_CACHE: dict[float, list[int]] = {}


def _gauss_lut(sigma: float) -> list[int]:
    """Maps a uniform byte to 128 + N(0, sigma) so that random bytes become gaussian noise."""
    if sigma not in _GAUSS_LUT_CACHE:
        nd = NormalDist(0, max(sigma, 1e-6))
        _GAUSS_LUT_CACHE[sigma] = [
            max(0, min(255, round(128 + nd.inv_cdf((v + 0.5) / 256)))) for v in range(256)
        ]
    return _GAUSS_LUT_CACHE[sigma]


def _noise_layer(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    raw = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    return raw.point(_gauss_lut(sigma))


def _uneven_light(page: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """A phone photo's light: a smooth shading falling off from a random bright spot, darkening the
    paper (and the text) by up to ``strength`` (0-1) in the far corner."""
    small = Image.new("L", (64, 90))
    bx, by = rng.uniform(0, 64), rng.uniform(0, 90)
    far = max(math.dist((bx, by), c) for c in ((0, 0), (64, 0), (0, 90), (64, 90)))
    small.putdata(
        [
            round(255 * (1 - strength * math.dist((x, y), (bx, by)) / far))
            for y in range(90)
            for x in range(64)
        ]
    )
    shade = small.resize(page.size, Image.Resampling.BILINEAR)
    return ImageChops.multiply(page, Image.merge("RGB", [shade] * 3))


def _degrade(
    page: Image.Image, *, rng: random.Random, noise: float, rotate: float, blur: float = 0.55
) -> Image.Image:
    page = page.filter(ImageFilter.GaussianBlur(blur))
    if noise > 0:
        sigma = noise * 255 * 0.5
        bands = [_noise_layer(page.size, sigma, rng) for _ in range(3)]
        # per-channel sensor noise, like a colour scanner
        page = ImageChops.add(page, Image.merge("RGB", bands), scale=1.0, offset=-128)
        # dust specks: pixels where two random bytes are both below ``cut`` (probability noise/100)
        cut = max(1, round(256 * math.sqrt(min(0.25, noise / 100))))
        a, b = (Image.frombytes("L", page.size, rng.randbytes(page.width * page.height)) for _ in range(2))
        speck = ImageChops.lighter(a, b).point(lambda v: 160 if v < cut else 0).filter(ImageFilter.BoxBlur(1))
        page = ImageChops.subtract(page, Image.merge("RGB", [speck] * 3))
    if rotate:
        page = page.rotate(rotate, resample=Image.BICUBIC, fillcolor=PAPER)
    return page


# --------------------------------------------------------------------------- public


def render_page(text: str, *, seed: int, **options: object) -> Image.Image:
    """The degraded page as a Pillow image (RGB, or L when ``grey``); see :func:`render_page_lines`."""
    return render_page_lines(text, seed=seed, **options)[0]  # type: ignore[arg-type]


def render_page_lines(
    text: str,
    *,
    seed: int,
    dpi: int = 150,
    seal: bool = True,
    seal_text: str = "",
    rotate: float = 0.0,
    noise: float = 0.02,
    grey: bool = False,
    family: str | None = None,
    body_pt: float = 14.0,
    line_spacing: float = 1.75,
    ink: tuple[int, int, int] = INK,
    light: float = 0.0,
    blur: float = 0.55,
    seal_at: tuple[float, float] | None = None,
    seal_colour: tuple[int, int, int] = SEAL_RED,
) -> tuple[Image.Image, list[str]]:
    """The degraded page as a Pillow image (RGB, or L when ``grey``), and the text lines drawn on it.

    ``body_pt`` / ``line_spacing``: body font size in points and line pitch over it (小四 is 12 pt,
    五号 10.5 pt); ``ink``: text colour (light grey toner: ~(110, 110, 115)); ``light``: uneven
    lighting of a phone photo (0-1); ``blur``: Gaussian blur radius in pixels (focus, scanner optics);
    ``seal_at``: the seal's centre as fractions of the page (x, y) instead of over the signature;
    ``seal_colour``: its ink (a faint, pale stamp: ~(225, 170, 170)).
    """
    rng = random.Random(seed)
    fam = family or rng.choice(["sans", "serif"])
    w, h = _mm(A4_MM[0], dpi), _mm(A4_MM[1], dpi)
    page = Image.new("RGB", (w, h), PAPER)
    draw = ImageDraw.Draw(page)
    cx, sig_top, sig_bottom, drawn = _layout(
        text, dpi, fam, draw, w, body_pt=body_pt, line_spacing=line_spacing, ink=ink
    )
    if seal:
        lines = [ln.strip() for ln in text.strip().split("\n")]
        name = seal_text or (re.sub(r"（.*?）|\(.*?\)", "", lines[-2]) if len(lines) >= 4 else "")
        mask = seal_mask(_mm(SEAL_DIAMETER_MM, dpi), name, rng)
        jitter = _mm(4, dpi)
        centre = (
            cx + rng.randint(-jitter, jitter),
            (sig_top + sig_bottom) // 2 + rng.randint(-jitter, jitter),
        )
        if seal_at is not None:
            centre = (round(seal_at[0] * w), round(seal_at[1] * h))
        stamp(page, mask, centre, rng, seal_colour)
    if light:
        page = _uneven_light(page, light, rng)
    page = _degrade(page, rng=rng, noise=noise, rotate=rotate, blur=blur)
    if grey:
        page = page.convert("L")
    return page, drawn


def render_scan(
    text: str,
    *,
    seed: int,
    dpi: int = 150,
    seal: bool = True,
    seal_text: str = "",
    rotate: float = 0.0,
    jpeg_quality: int = 75,
    noise: float = 0.02,
    grey: bool = False,
    **page_options: object,
) -> bytes:
    """JPEG bytes of an A4 scan of ``text`` at ``dpi`` (see the module docstring for the layout).

    ``page_options`` go to :func:`render_page` (``body_pt``, ``line_spacing``, ``ink``, ``light`` ...).
    """
    page = render_page(
        text,
        seed=seed,
        dpi=dpi,
        seal=seal,
        seal_text=seal_text,
        rotate=rotate,
        noise=noise,
        grey=grey,
        **page_options,  # type: ignore[arg-type]
    )
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=jpeg_quality, dpi=(dpi, dpi))
    return buf.getvalue()


def render_pdf_scan(
    text: str | Sequence[str],
    *,
    seed: int,
    dpi: int = 150,
    seal: bool = True,
    seal_text: str = "",
    rotate: float = 0.0,
    jpeg_quality: int = 75,
    noise: float = 0.02,
    grey: bool = False,
    **page_options: object,
) -> bytes:
    """An image-only PDF (one JPEG per page, no text layer); a sequence of texts makes several pages."""
    texts = [text] if isinstance(text, str) else list(text)
    pages = [
        render_page(
            t,
            seed=seed + i,
            dpi=dpi,
            seal=seal,
            seal_text=seal_text,
            rotate=rotate,
            noise=noise,
            grey=grey,
            **page_options,  # type: ignore[arg-type]
        )
        for i, t in enumerate(texts)
    ]
    buf = io.BytesIO()
    pages[0].save(
        buf, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:], quality=jpeg_quality
    )
    return buf.getvalue()
