"""Preconditions of each resolution (DESIGN.md section 5), failing and passing, on the records alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.db import session
from helpdesk.records import resolutions
from helpdesk.records.models import AuditEntry, Enterprise, PlatformAccount, Qualification
from helpdesk.records.resolutions import PreconditionFailed
from tests.records.factories import corrupt, make_enterprise, make_uscc


@pytest.fixture
def acme(app):
    ent = make_enterprise(accounts=("hengda1", "zxkt_hengda2"))
    session.commit()
    return ent


def _rule(exc: pytest.ExceptionInfo[PreconditionFailed]) -> str:
    assert "规则：" in str(exc.value)  # the message names the rule
    return exc.value.rule


# ------------------------------------------------------------------------------------------ change


def test_change_uscc_updates_codes_resets_review_and_audits(acme, users):
    new = make_uscc()
    old = acme.uscc
    applied = resolutions.apply_change(acme, new_uscc=new, old_uscc=old, company_name="苏州恒达贸易有限公司",
                                       actor=users["agent"], ticket_id=None)  # fmt: skip
    session.commit()
    ent = session.get(Enterprise, acme.id)
    assert (ent.uscc, ent.org_code) == (new, new[8:17])
    assert (
        session.scalar(select(Qualification.review_status).where(Qualification.enterprise_id == ent.id))
        == "未审核"
    )
    audit = {(a.field, a.before, a.after) for a in session.scalars(select(AuditEntry))}
    assert ("uscc", old, new) in audit and ("org_code", old[8:17], new[8:17]) in audit
    assert ("review_status", "未公示", "未审核") in audit
    assert new in applied.summary and all(
        a.actor_id == users["agent"].id for a in session.scalars(select(AuditEntry))
    )


def test_change_refuses_a_new_uscc_failing_its_checksum(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(acme, new_uscc=corrupt(make_uscc()), actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "change.codes_valid"
    assert "校验" in str(exc.value)


def test_change_refuses_a_bad_org_code(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(
            acme, new_org_code=corrupt(acme.org_code), actor=users["agent"], ticket_id=None
        )
    assert _rule(exc) == "change.codes_valid"


def test_change_refuses_an_org_code_that_is_not_inside_the_uscc(acme, users):
    other = make_uscc()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(acme, new_org_code=other[8:17], actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "change.org_matches_uscc"


def test_change_refuses_a_uscc_held_by_another_enterprise(acme, users):
    other = make_enterprise("杭州云帆科技有限公司", accounts=("yunfan",), contact_email="y@yunfan.cn")
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(acme, new_uscc=other.uscc, actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "change.uscc_free"
    assert "杭州云帆科技有限公司" in str(exc.value)


def test_change_refuses_when_the_company_does_not_match(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(acme, new_uscc=make_uscc(), company_name="别的公司", actor=users["agent"],
                                 ticket_id=None)  # fmt: skip
    assert _rule(exc) == "change.company_matches"


def test_change_company_name_compare_ignores_width_spacing_and_punctuation(acme, users):
    resolutions.apply_change(acme, new_uscc=make_uscc(), company_name=" 苏州恒达贸易（有限）公司 ", actor=users["agent"],
                             ticket_id=None)  # fmt: skip


def test_change_refuses_when_the_stated_old_code_differs_from_the_records(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(
            acme, new_uscc=make_uscc(), old_uscc=make_uscc(), actor=users["agent"], ticket_id=None
        )
    assert _rule(exc) == "change.old_codes_match"


def test_change_with_nothing_to_change_is_refused(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(acme, new_uscc=acme.uscc, actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "change.nothing"


def test_change_of_name_refused_while_projects_were_filed_under_it(app, users):
    ent = make_enterprise(projects=(("2026年境外展会项目", "苏州恒达贸易有限公司", "苏州市"),))
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(
            ent, new_name="苏州恒达国际贸易有限公司", actor=users["agent"], ticket_id=None
        )
    assert _rule(exc) == "change.projects"
    assert "2026年境外展会项目" in str(exc.value)


def test_change_of_name_passes_when_projects_were_filed_under_another_name(app, users):
    ent = make_enterprise(projects=(("2026年境外展会项目", "另一个名称", "无锡市"),))
    session.commit()
    resolutions.apply_change(ent, new_name="苏州恒达国际贸易有限公司", actor=users["agent"], ticket_id=None)
    session.commit()
    assert session.get(Enterprise, ent.id).name_key == "苏州恒达国际贸易有限公司"


def test_published_qualification_without_permission_blocks_info_fields_not_codes(app, users):
    ent = make_enterprise(review_status="已公示", allow_modify=False)
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_change(ent, industry="制造业", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "change.qualification_locked"
    resolutions.apply_change(ent, new_uscc=make_uscc(), actor=users["agent"], ticket_id=None)  # FAQ case 五


def test_published_qualification_with_permission_can_be_modified(app, users):
    ent = make_enterprise(review_status="已公示", allow_modify=True)
    session.commit()
    resolutions.apply_change(ent, industry="制造业", headcount="45", actor=users["agent"], ticket_id=None)
    session.commit()
    q = session.scalar(select(Qualification).where(Qualification.enterprise_id == ent.id))
    assert (q.industry, q.headcount, q.review_status) == ("制造业", 45, "未审核")


# ------------------------------------------------------------------------------------------ unbind / cancel


def test_unbind_removes_the_binding(acme, users):
    applied = resolutions.apply_unbind(acme, "HENGDA1", actor=users["agent"], ticket_id=None)
    session.commit()
    assert not session.scalar(
        select(PlatformAccount).where(PlatformAccount.account_name == "hengda1")
    ).app_bound
    assert applied.changes[0].after == "未绑定"


def test_unbind_refused_with_a_single_account(app, users):
    ent = make_enterprise(accounts=("solo",))
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_unbind(ent, "solo", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "accounts.more_than_one"


def test_unbind_refused_when_the_account_does_not_hold_the_binding(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_unbind(
            acme, "hengda2", actor=users["agent"], ticket_id=None
        )  # zxkt_ prefix omitted
    assert _rule(exc) == "unbind.holds_binding"
    assert "hengda1" in str(exc.value)  # says which account holds it


def test_unbind_refused_for_an_account_of_another_enterprise(acme, users):
    make_enterprise("杭州云帆科技有限公司", accounts=("yunfan",), contact_email="y@yunfan.cn")
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_unbind(acme, "yunfan", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "account.belongs"


def test_unbind_refused_for_an_unknown_account(acme, users):
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_unbind(acme, "nobody", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "account.exists"


def test_cancel_marks_cancelled_and_unbound(acme, users):
    applied = resolutions.apply_cancel(acme, "hengda1", actor=users["agent"], ticket_id=None)
    session.commit()
    acc = session.scalar(select(PlatformAccount).where(PlatformAccount.account_name == "hengda1"))
    assert (acc.status, acc.app_bound, acc.cancelled_at is not None) == ("cancelled", False, True)
    assert {c.field for c in applied.changes} == {"status", "app_bound"}
    assert applied.notes  # tells the enterprise the binding went with it


def test_cancel_refused_with_a_single_active_account(acme, users):
    resolutions.apply_cancel(acme, "zxkt_hengda2", actor=users["agent"], ticket_id=None)
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_cancel(acme, "hengda1", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "accounts.more_than_one"


def test_cancel_refused_for_an_already_cancelled_account(acme, users):
    resolutions.apply_cancel(acme, "zxkt_hengda2", actor=users["agent"], ticket_id=None)
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_cancel(acme, "zxkt_hengda2", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "account.active"


def test_cancel_refused_for_an_account_of_another_enterprise(acme, users):
    make_enterprise("杭州云帆科技有限公司", accounts=("yunfan", "yunfan2"), contact_email="y@yunfan.cn")
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.apply_cancel(acme, "yunfan2", actor=users["agent"], ticket_id=None)
    assert _rule(exc) == "account.belongs"


def test_the_database_refuses_a_cancelled_account_holding_the_binding(acme):
    from sqlalchemy.exc import IntegrityError

    acc = session.scalar(select(PlatformAccount).where(PlatformAccount.account_name == "hengda1"))
    acc.status = "cancelled"
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_the_database_refuses_a_second_binding(acme):
    from sqlalchemy.exc import IntegrityError

    acc = session.scalar(select(PlatformAccount).where(PlatformAccount.account_name == "zxkt_hengda2"))
    acc.app_bound = True
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


# ------------------------------------------------------------------------------------------ recovery


def test_recovery_lists_active_accounts_bound_first(acme, users):
    applied = resolutions.apply_recovery(acme, actor=users["agent"], ticket_id=None)
    assert applied.accounts == (("hengda1", True), ("zxkt_hengda2", False))


def test_recovery_refused_without_active_accounts(app, users):
    ent = make_enterprise(accounts=())
    session.commit()
    with pytest.raises(PreconditionFailed) as exc:
        resolutions.recovery_accounts(ent)
    assert _rule(exc) == "recovery.has_accounts"
