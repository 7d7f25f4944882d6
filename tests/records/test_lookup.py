"""Finding an enterprise by every key: codes, accounts, exact and fuzzy names, a sender seen before."""

from __future__ import annotations

import pytest

from helpdesk.db import session
from helpdesk.records import lookup
from helpdesk.records.keys import account_key, name_key
from helpdesk.tickets.models import Ticket
from tests.records.factories import make_enterprise, make_uscc


@pytest.fixture
def firms(app):
    a = make_enterprise(
        "苏州恒达贸易有限公司", accounts=("zxkt_hengda", "hengda2"), contact_email="boss@hengda.cn"
    )
    b = make_enterprise("杭州云帆科技有限公司", accounts=("yunfan",), contact_email="info@yunfan.cn")
    c = make_enterprise("深圳（前海）星辰供应链管理有限公司", accounts=("xingchen",), contact_email="")
    for i in range(30):  # neighbours sharing the city and trade words
        make_enterprise(f"苏州{'甲乙丙丁戊己庚辛壬癸'[i % 10]}{i}贸易有限公司", accounts=(f"n{i}",),
                        contact_email=f"n{i}@x.cn")  # fmt: skip
    session.commit()
    return a, b, c


def test_name_key_ignores_width_spacing_punctuation_and_case():
    assert name_key(" 深圳（前海）星辰 供应链·管理有限公司 ") == name_key("深圳(前海)星辰供应链管理有限公司")
    assert name_key("ＡＢＣ　贸易") == name_key("abc贸易") == "abc贸易"


def test_account_key_repairs_the_prefix():
    assert account_key(" ZXKT-Hengda ") == "zxkt_hengda"
    assert account_key("zxkt _ hengda") == "zxkt_hengda"


def test_by_uscc_and_org_code(firms):
    a, _b, _c = firms
    assert lookup.by_uscc(a.uscc.lower()) is a
    assert lookup.by_uscc(f"{a.uscc[:6]} {a.uscc[6:]}") is a
    assert lookup.by_org_code(f"{a.org_code[:8]}-{a.org_code[8]}") == [a]
    assert lookup.by_uscc(make_uscc()) is None and lookup.by_org_code("123") == []


def test_by_account_with_and_without_prefix(firms):
    a, b, _c = firms
    assert lookup.by_account("hengda") is a  # stored as zxkt_hengda
    assert lookup.by_account("ZXKT_HENGDA") is a
    assert lookup.by_account("zxkt_hengda2") is a  # stored without the prefix
    assert lookup.by_account("Yunfan") is b
    assert lookup.by_account("nobody") is None


def test_by_exact_name(firms):
    _a, _b, c = firms
    assert lookup.by_name("深圳(前海)星辰供应链管理有限公司") == [c]


@pytest.mark.parametrize("written", [
    "苏州市恒达贸易有限公司",        # an extra 市
    "苏州恒达贸易有限责任公司",      # another legal form
    "苏州恒达商贸有限公司",          # one character wrong
    "苏 州 恒 达 贸 易",             # spaced, legal form left out
])  # fmt: skip
def test_fuzzy_name_finds_the_right_enterprise_first(firms, written):
    a, _b, _c = firms
    found = lookup.fuzzy_by_name(written)
    assert found and found[0][0] is a, [(e.name, r) for e, r in found]


def test_fuzzy_name_does_not_invent_matches(firms):
    assert lookup.fuzzy_by_name("北京完全无关科技公司") == []


def test_by_sender_contact_account_and_earlier_ticket(firms, users):
    a, b, _c = firms
    assert lookup.by_sender("BOSS@hengda.cn") == [a]
    assert lookup.by_sender("hengda2@mail.test") == [a]  # account e-mail
    assert lookup.by_sender("stranger@else.cn") == []
    session.add(Ticket(subject="x", requester_email="stranger@else.cn", enterprise_id=b.id))
    session.add(Ticket(subject="y", requester_email="stranger@else.cn", enterprise_id=None))
    session.commit()
    assert lookup.by_sender("stranger@else.cn") == [b]


def test_candidates_keeps_the_intake_signature_and_order(firms):
    a, b, _c = firms
    found = lookup.candidates(usccs=[b.uscc], accounts=["hengda"], names=["苏州恒达贸易有限公司"], sender="")
    assert found == [b, a]
    assert lookup.candidates(names=["苏州市恒达贸易有限公司"]) == [a]  # a near-identical name counts
    assert lookup.candidates(names=["苏州恒达"], sender="info@yunfan.cn") == [
        b
    ]  # too far: falls back to sender


def test_search_detects_the_kind_of_key(firms):
    a, b, c = firms
    assert [m.via for m in lookup.search(a.uscc)] == ["uscc"]
    assert lookup.search(a.org_code)[0].enterprise is a
    assert lookup.search("hengda")[0].via == "account"
    assert lookup.search("info@yunfan.cn")[0].enterprise is b
    hits = lookup.search("星辰供应链")
    assert hits and hits[0].enterprise is c and hits[0].via == "fuzzy"
