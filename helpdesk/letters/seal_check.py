"""Step 6 of `read`: the seal on the letter, judged by the optional seal module (seal.py).

Pictures inside a document (an e-seal PNG) are first placed on a page; a picture that is a whole
scanned page is judged as it is. An OFD with an electronic signature is sealed.
"""

from __future__ import annotations

import io

from .inputs import optional
from .sniff import IMAGE_KINDS
from .sources import Source

MAX_SEAL_CHECKS = 4


def seal(main: Source | None) -> tuple[tuple[str, str], str]:
    """((verdict, Chinese reason), evidence source) for the letter's seal."""
    if main is None:
        return ("unknown", "未找到说明函，无法判断是否盖章"), "filename"
    if main.kind == "body":
        return ("unknown", "说明写在邮件正文中，没有盖章件"), "body"
    label = main.label
    if main.signed:
        return ("seal", "OFD 文件带有电子签章"), label
    letter_pages = {i for i, r in enumerate(main.page_roles) if r == "letter"} or {0}
    images = [
        img
        for img, p in zip(main.images, main.image_pages, strict=False)
        if p in letter_pages or main.kind in IMAGE_KINDS
    ]
    mod = optional("seal")
    if main.kind not in IMAGE_KINDS:
        # pictures inside a document (an e-seal PNG): judge them as placed on a page; a picture
        # that is a whole scanned page (an image-only PDF) is judged as it is
        images = [
            p
            for p in (img if _is_page_image(img) else _on_page(img) for img in images[:MAX_SEAL_CHECKS])
            if p is not None
        ]
    if not images:
        if main.kind == "docx":
            return ("unknown", "电子版未见公章图片"), label
        return ("unknown", f"附件《{main.filename}》中未见图片，无法判断是否盖章"), label
    if mod is None:
        return ("unknown", "公章检测不可用，请人工查看附件"), label
    verdicts = []
    for img in images[:MAX_SEAL_CHECKS]:
        try:
            hint = mod.detect_seal(img)
        except Exception as exc:
            verdicts.append(("unknown", f"公章检测出错（{type(exc).__name__}）"))
            continue
        verdicts.append((str(getattr(hint, "verdict", "unknown")), str(getattr(hint, "reason", "")) or ""))
    for v, why in verdicts:
        if v == "seal":
            return ("seal", f"附件《{main.filename}》：{why or '见到公章'}"), label
    if verdicts and all(v == "none" for v, _ in verdicts):
        return ("none", f"附件《{main.filename}》：{verdicts[0][1] or '未见公章'}"), label
    why = next((w for v, w in verdicts if w), "无法判断是否盖章")
    return ("unknown", f"附件《{main.filename}》：{why}"), label


def _is_page_image(data: bytes) -> bool:
    """A picture the size and shape of a scanned page (A4 at 100 dpi or more, either way up)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:
        return False
    return min(w, h) >= 800 and 1.2 <= max(w, h) / min(w, h) <= 1.6


def _on_page(data: bytes) -> bytes | None:
    """A picture taken out of a document, pasted at its usual size on a white A4 page (PNG).

    An electronic seal is a picture that *is* the seal; the seal detector looks for a seal-sized
    structure on a page, so the picture is given its page back (a 4 cm seal on 21 cm paper).
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rgba = im.convert("RGBA")
    except Exception:
        return None
    w, h = rgba.size
    if w < 16 or h < 16:
        return None
    # a small page keeps detection fast: the picture at 160 px is a 4 cm seal on a 600 px A4 page
    scale = min(1.0, 160 / max(w, h))
    if scale < 1.0:
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        rgba = rgba.resize((w, h))
    page_w = max(600, int(max(w, h) * 210 / 60))
    page_h = int(page_w * 297 / 210)
    page = Image.new("RGB", (page_w, page_h), (255, 255, 255))
    page.paste(rgba, ((page_w - w) // 2, (page_h - h) // 2), rgba)
    out = io.BytesIO()
    page.save(out, "PNG", compress_level=1)
    return out.getvalue()
