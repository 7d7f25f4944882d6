"""Findings against the records, as the agent sees them beside the letter."""

from __future__ import annotations

import pytest

from helpdesk.db import session
from helpdesk.records.findings import record_findings, suggest_change, ticket_values
from tests.records.factories import corrupt, make_enterprise, make_ticket, make_uscc


def by_code(ticket) -> dict[str, dict]:
    items = record_findings(ticket)
    for f in items:
        assert set(f) == {"code", "status", "message", "field"} and f["status"] in ("pass", "fail", "unknown")
    return {f["code"]: f for f in items}


@pytest.fixture
def acme(app):
    ent = make_enterprise(accounts=("zxkt_hengda", "hengda2"))
    session.commit()
    return ent


def test_unbind_letter_that_matches_the_records(acme):
    t = make_ticket("unbind", enterprise=acme, company_name="苏州恒达贸易（有限）公司", account_names=["hengda", "hengda2"],
                    account_count=2, target_accounts=["zxkt_hengda"])  # fmt: skip
    f = by_code(t)
    for code in ("records_enterprise", "records_company_name", "records_accounts", "records_account_count",
                 "records_multiple_accounts", "records_binding"):  # fmt: skip
        assert f[code]["status"] == "pass", f[code]


def test_unbind_letter_naming_the_wrong_account(acme):
    make_enterprise("杭州云帆科技有限公司", accounts=("yunfan",), contact_email="y@yunfan.cn")
    t = make_ticket("unbind", enterprise=acme, company_name="苏州恒达贸易有限公司", account_names=["hengda2", "yunfan"],
                    account_count=3, target_accounts=["hengda2"])  # fmt: skip
    f = by_code(t)
    assert f["records_binding"]["status"] == "fail" and "zxkt_hengda" in f["records_binding"]["message"]
    assert (
        f["records_accounts"]["status"] == "fail"
        and "杭州云帆科技有限公司" in f["records_accounts"]["message"]
    )
    assert f["records_account_count"]["status"] == "fail"


def test_company_name_mismatch_and_near_miss(acme):
    assert (
        by_code(make_ticket("cancel", enterprise=acme, company_name="别家公司"))["records_company_name"][
            "status"
        ]
        == "fail"
    )
    near = make_ticket("cancel", enterprise=acme, company_name="苏州恒达贸易有限责任公司")
    assert by_code(near)["records_company_name"]["status"] == "unknown"


def test_cancel_of_the_only_account(app):
    ent = make_enterprise(accounts=("solo",))
    f = by_code(make_ticket("cancel", enterprise=ent, company_name=ent.name, target_accounts=["solo"]))
    assert f["records_multiple_accounts"]["status"] == "fail"


def test_change_letter_codes_against_the_records(acme):
    new = make_uscc()
    f = by_code(
        make_ticket("change", enterprise=acme, company_name=acme.name, old_value=acme.uscc, new_value=new)
    )
    assert f["records_old_uscc"]["status"] == "pass"
    assert f["records_new_uscc"]["status"] == "pass"
    assert f["records_projects"]["status"] == "pass"
    assert f["records_change_ready"]["status"] == "pass"
    wrong_old = by_code(make_ticket("change", enterprise=acme, old_value=make_uscc(), new_value=new))
    assert wrong_old["records_old_uscc"]["status"] == "fail"
    bad_new = by_code(make_ticket("change", enterprise=acme, old_value=acme.uscc, new_value=corrupt(new)))
    assert (
        bad_new["records_new_uscc"]["status"] == "fail" and "校验" in bad_new["records_new_uscc"]["message"]
    )


def test_change_to_a_code_held_by_another_enterprise(acme):
    other = make_enterprise("杭州云帆科技有限公司", accounts=("yunfan",), contact_email="y@yunfan.cn")
    f = by_code(make_ticket("change", enterprise=acme, old_value=acme.uscc, new_value=other.uscc))
    assert (
        f["records_new_uscc"]["status"] == "fail"
        and "杭州云帆科技有限公司" in f["records_new_uscc"]["message"]
    )
    assert f["records_change_ready"]["status"] == "fail"


def test_change_of_name_with_projects_filed_under_it(app):
    ent = make_enterprise(projects=(("2026年境外展会项目", "苏州恒达贸易有限公司", "苏州市"),))
    t = make_ticket("change", enterprise=ent, company_name=ent.name, modification="企业名称",
                    old_value=ent.name, new_value="苏州恒达国际贸易有限公司")  # fmt: skip
    f = by_code(t)
    assert (
        f["records_projects"]["status"] == "fail" and "2026年境外展会项目" in f["records_projects"]["message"]
    )


def test_qualification_status_and_permission(app):
    locked = make_enterprise(review_status="已公示", allow_modify=False)
    t = make_ticket("change", enterprise=locked, modification="所属行业", new_value="制造业")
    assert by_code(t)["records_qualification"]["status"] == "fail"
    codes_only = make_ticket("change", enterprise=locked, old_value=locked.uscc, new_value=make_uscc())
    assert by_code(codes_only)["records_qualification"]["status"] == "unknown"  # FAQ case 五: staff may
    open_ = make_enterprise(
        "杭州云帆科技有限公司", review_status="未公示", accounts=("yf",), contact_email="y@y.cn"
    )
    assert by_code(make_ticket("change", enterprise=open_, new_value="制造业", modification="所属行业"))[
        "records_qualification"]["status"] == "pass"  # fmt: skip


def test_recovery_sender_check(acme):
    known = by_code(make_ticket("recovery", enterprise=acme, requester="contact@hengda.cn"))
    assert (
        known["records_sender"]["status"] == "pass" and known["records_recovery_accounts"]["status"] == "pass"
    )
    stranger = by_code(make_ticket("recovery", enterprise=acme, requester="someone@qq.com"))
    assert stranger["records_sender"]["status"] == "unknown"


def test_unlinked_ticket_points_to_candidates(acme):
    f = by_code(make_ticket("unbind", enterprise=None, company_name="苏州恒达贸易有限公司"))
    assert f["records_enterprise"]["status"] == "unknown"
    none = by_code(
        make_ticket("unbind", enterprise=None, company_name="不存在的公司", requester="x@nowhere.cn")
    )
    assert none["records_enterprise"]["status"] == "fail"


def test_agent_corrections_override_the_extracted_fields(acme):
    t = make_ticket("unbind", enterprise=acme, target_accounts=["hengda2"])
    t.fields = {"target_accounts": "zxkt_hengda", "account_names": "zxkt_hengda、hengda2"}
    values = ticket_values(t)
    assert values["target_accounts"] == ["zxkt_hengda"] and values["account_names"] == [
        "zxkt_hengda",
        "hengda2",
    ]
    assert by_code(t)["records_binding"]["status"] == "pass"


def test_suggest_change_reads_codes_and_fields(acme):
    new = make_uscc()
    assert suggest_change({"old_value": acme.uscc, "new_value": new}, acme) == {
        "new_uscc": new,
        "old_uscc": acme.uscc,
    }
    assert suggest_change({"new_value": f"{new[8:16]}-{new[16]}"}, acme) == {"new_org_code": new[8:17]}
    assert suggest_change({"uscc": [acme.uscc, new]}, acme) == {"new_uscc": new, "old_uscc": acme.uscc}
    assert suggest_change({"modification": "行政区划", "new_value": "无锡市"}, acme) == {
        "new_division_name": "无锡市"
    }
