"""Letter previews: a .docx as sanitised HTML, PDF pages and images as page images behind a login,
rendered once per attachment content and kept on disk."""

from __future__ import annotations

import io
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.letters import preview
from helpdesk.tickets import intake, previews
from helpdesk.tickets.models import Attachment
from tests.letters.make_letters import docx_bytes, text_image, text_pdf

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def hostile_docx() -> bytes:
    """A letter with a bold title, a table, a javascript: hyperlink, markup typed as text and an
    externally linked picture: the text and the table must survive, nothing active may."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml

    doc = docx.Document()
    doc.add_paragraph().add_run("注销说明").bold = True
    doc.add_paragraph("本单位申请注销账号 zxkt_hengda2。<script>alert('x')</script>")
    table = doc.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "账号", "状态"
    table.cell(1, 0).text, table.cell(1, 1).text = "zxkt_hengda2", "申请注销"
    body = doc.add_paragraph()
    rid = doc.part.relate_to("javascript:alert(document.cookie)", RT.HYPERLINK, is_external=True)
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' \
         'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'  # fmt: skip
    body._p.append(
        parse_xml(f'<w:hyperlink {ns} r:id="{rid}"><w:r><w:t>点这里查看</w:t></w:r></w:hyperlink>')
    )
    image_rid = doc.part.relate_to("http://evil.example/track.png", RT.IMAGE, is_external=True)
    pic = doc.add_paragraph()
    pic._p.append(parse_xml(
        f'<w:r {ns}><w:pict><v:shape xmlns:v="urn:schemas-microsoft-com:vml" style="width:10pt;height:10pt">'
        f'<v:imagedata r:id="{image_rid}"/></v:shape></w:pict></w:r>'
    ))  # fmt: skip
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def test_docx_html_keeps_text_tables_and_bold_and_strips_active_content():
    html = preview.docx_html(hostile_docx())
    assert "<strong>注销说明</strong>" in html
    assert "<table>" in html and "<td><p>zxkt_hengda2</p></td>" in html and "申请注销" in html
    assert "点这里查看" in html  # a hyperlink's text stays, its target does not
    assert "&lt;script&gt;" in html  # typed markup is shown as the text it is
    for active in (
        "<script",
        "javascript:",
        "href",
        "<a ",
        "<img",
        "evil.example",
        "style=",
        "onclick",
        "src=",
    ):
        assert active not in html, active


def test_sanitiser_removes_scripts_handlers_and_remote_images():
    dirty = '<p onclick="x()">正文<script>alert(1)</script><img src="http://evil.example/a.png"><a href="javascript:x">链接</a></p>'
    assert preview.sanitize_docx_html(dirty) == "<p>正文链接</p>"


def test_a_broken_docx_or_a_zip_bomb_gets_a_reason_not_an_exception():
    assert preview.render(b"PK\x03\x04broken", "docx").problem
    assert preview.render(b"not a pdf at all", "pdf").kind == "none"


def test_pages_are_capped_and_scaled():
    pdf = text_pdf([[f"第 {n} 页"] for n in range(1, preview.MAX_PREVIEW_PAGES + 3)])
    shown = preview.render(pdf, "pdf")
    assert shown.kind == "pages" and shown.total_pages == preview.MAX_PREVIEW_PAGES + 2
    assert len(shown.pages) == preview.MAX_PREVIEW_PAGES
    assert all(max(size) <= preview.PREVIEW_SIDE for size in shown.sizes)
    assert all(page[:3] == b"\xff\xd8\xff" for page in shown.pages)


def _mail(name: str, data: bytes, mime: tuple[str, str], subject: str = "注销说明") -> bytes:
    msg = EmailMessage()
    msg["From"] = "王经理 <contact@hengda.cn>"
    msg["To"] = "zxzj@ec.com.cn"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="hengda.cn")
    msg.set_content("您好，附件是我司的说明。")
    msg.add_attachment(data, maintype=mime[0], subtype=mime[1], filename=name)
    return bytes(msg)


def _attachment(ticket_id: int) -> Attachment:
    return session.scalars(select(Attachment).where(Attachment.ticket_id == ticket_id)).one()


def test_the_ticket_page_shows_a_docx_letter_as_html(app, agent_client):
    result = intake.import_eml(_mail("注销说明.docx", hostile_docx(), DOCX_TYPE))
    page = agent_client.get(f"/tickets/{result.ticket_id}").get_data(as_text=True)
    start = page.index('data-preview="docx"')
    pane = page[start : page.index("</article>", start)]
    assert "<strong>注销说明</strong>" in pane and "<table>" in pane and "zxkt_hengda2" in pane
    assert "<script" not in pane and "javascript:" not in pane and "evil.example" not in pane


def test_the_page_image_route_needs_a_login_and_serves_a_cached_jpeg(app, client, agent_client):
    pdf = text_pdf([["解绑说明 第一页"], ["第二页"]])
    result = intake.import_eml(_mail("解绑说明.pdf", pdf, ("application", "pdf"), subject="解绑说明"))
    att = _attachment(result.ticket_id)
    url = f"/tickets/{result.ticket_id}/attachments/{att.id}/pages/1.jpg"

    anonymous = client.get(url)
    assert anonymous.status_code in (302, 401) and b"\xff\xd8" not in anonymous.data[:2]

    response = agent_client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data[:3] == b"\xff\xd8\xff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert agent_client.get(url.replace("/1.jpg", "/2.jpg")).status_code == 200
    assert agent_client.get(url.replace("/1.jpg", "/3.jpg")).status_code == 404

    # rendered once, kept by content hash: served with the stored original gone
    cached = sorted(p.name for p in (previews.cache_dir()).glob(f"{att.sha256}-*/*"))
    assert cached == ["meta.json", "p1.jpg", "p2.jpg"]
    if att.data is None:
        (Path(app.config["HELPDESK"].attachments_dir) / att.stored_name).unlink()
    else:
        att.data = b""  # the cache, not the row, answers from now on
        session.commit()
    again = agent_client.get(url)
    assert again.status_code == 200 and again.data == response.data

    # another ticket's number with this attachment: not found
    other = intake.import_eml(_mail("x.jpg", text_image(["营业执照"], fmt="JPEG"), ("image", "jpeg"), "其他"))
    assert agent_client.get(f"/tickets/{other.ticket_id}/attachments/{att.id}/pages/1.jpg").status_code == 404


@pytest.mark.parametrize("fmt, mime", [("PNG", ("image", "png")), ("JPEG", ("image", "jpeg"))])
def test_an_image_letter_is_one_page_image(app, agent_client, fmt, mime):
    scan = text_image(["注销说明", "本单位申请注销账号 zxkt_hengda2"], fmt=fmt)
    result = intake.import_eml(_mail(f"scan.{fmt.lower()}", scan, mime))
    att = _attachment(result.ticket_id)
    page = agent_client.get(f"/tickets/{result.ticket_id}").get_data(as_text=True)
    assert f"/attachments/{att.id}/pages/1.jpg" in page and f"/attachments/{att.id}/pages/2.jpg" not in page
    image = agent_client.get(f"/tickets/{result.ticket_id}/attachments/{att.id}/pages/1.jpg")
    assert image.status_code == 200 and image.data[:3] == b"\xff\xd8\xff"


def test_docx_bytes_from_the_letter_generator_render(app):
    html = preview.docx_html(docx_bytes(["注销说明", "甲", "乙", "丙"], layout="table"))
    assert "<table>" in html and "甲" in html


def test_a_text_pdf_keeps_its_words_with_their_boxes_for_the_highlight():
    shown = preview.render(text_pdf([["解绑说明", "现申请解绑 zxkt_hengda2"]]), "pdf")
    assert len(shown.words) == 1
    text = "".join(str(w[0]) for w in shown.words[0]).replace(" ", "")
    assert "解绑说明" in text and "zxkt_hengda2" in text
    for _, left, top, width, height in shown.words[0]:
        assert 0 <= left < 1 and 0 <= top < 1 and 0 < width <= 1 and 0 < height <= 1
    scan = preview.render(text_image(["注销说明"], fmt="PNG"), "png")
    assert scan.words == []  # a scan has no text layer: its page is what lights up


def test_parse_bbox_reads_pages_and_unescapes():
    xhtml = ('<page width="100.0" height="200.0"><word xMin="10.0" yMin="20.0" xMax="30.0" yMax="40.0">'
             "A&amp;B</word></page>")  # fmt: skip
    assert preview.parse_bbox(xhtml) == [[["A&B", 0.1, 0.1, 0.2, 0.1]]]
