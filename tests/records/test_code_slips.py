"""\"Did you mean\" for code slips: a USCC or organisation code one character off (O for 0, a swapped
pair, one wrong digit) is named as a likely slip of the record, and finds its enterprise when unlinked."""

from __future__ import annotations

import pytest

from helpdesk.db import session
from helpdesk.records import findings
from tests.conftest import page_csrf
from tests.records.factories import make_enterprise, make_ticket


@pytest.mark.parametrize(
    "written, recorded, expected",
    [
        ("91110108551385O82Q", "91110108551385082Q", "第 15 位写成了 O，档案为 0，形近字符"),
        ("91110108551385082R", "91110108551385082Q", "第 18 位写成了 R，档案为 Q，只差一位"),
        ("91110108553185082Q", "91110108551385082Q", "第 11、12 位前后颠倒"),
        ("55138508-2", "551385082", None),  # the same code, hyphenated: no slip at all
        ("91110108551385082Q", "91110108551385082Q", None),
        ("91110108000000082Q", "91110108551385082Q", None),  # far off: not a slip
        ("5513850S2", "551385052", "第 8 位写成了 S，档案为 5，形近字符"),
    ],
)
def test_code_slip_says_what_the_slip_is(written, recorded, expected):
    assert findings.code_slip(written, recorded) == expected


def test_a_linked_ticket_with_an_o_for_0_gets_did_you_mean(app):
    ent = make_enterprise(uscc="91110108551385082Q", accounts=("hengda1", "hengda2"))
    ticket = make_ticket("cancel", enterprise=ent, uscc=["91110108551385O82Q"], company_name=ent.name,
                         account_names=["hengda1", "hengda2"], target_accounts=["hengda2"], account_count=2)  # fmt: skip
    session.commit()
    check = next(f for f in findings.record_findings(ticket) if f["code"] == "records_codes")
    assert check["status"] == "unknown"
    assert "您是不是指档案中的 91110108551385082Q" in check["message"] and "形近字符" in check["message"]


def test_a_real_mismatch_is_still_a_failure(app):
    ent = make_enterprise(uscc="91110108551385082Q")
    ticket = make_ticket("cancel", enterprise=ent, uscc=["91320500000000000X"], company_name=ent.name)
    session.commit()
    check = next(f for f in findings.record_findings(ticket) if f["code"] == "records_codes")
    assert check["status"] == "fail" and "不一致" in check["message"]


def test_an_unlinked_ticket_finds_its_enterprise_through_the_slip(app, agent_client):
    ent = make_enterprise(
        name="无锡宏远机械有限公司", uscc="91110108551385082Q", contact_email="x@hongyuan.cn"
    )
    # an OCR'd O for 0 and a wrong check character: neither is on record
    ocr = make_ticket("cancel", requester="someone@else.cn", uscc=["91110108551385O82Q"])
    typo = make_ticket("cancel", requester="someone@else.cn", uscc=["91110108551385082R"])
    session.commit()
    for ticket in (ocr, typo):
        found = findings.ticket_candidates(ticket)
        assert [(m.enterprise.id, m.via) for m in found] == [(ent.id, "code_slip")], ticket.fields
    page_csrf(agent_client)
    page = agent_client.get(f"/tickets/{ocr.id}").get_data(as_text=True)
    assert "代码近似（疑似笔误）" in page and "您是不是指这家" in page and "无锡宏远机械有限公司" in page
