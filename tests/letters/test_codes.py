"""USCC (GB 32100-2015) and organisation code (GB 11714) checks, search and repair."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.letters.codes import (
    OCR_CONFUSIONS,
    USCC_ALPHABET,
    check_code,
    embedded_org_code,
    find_codes,
    is_valid_org_code,
    is_valid_uscc,
    org_check_char,
    repair_uscc,
    uscc_check_char,
    uscc_checksum_ok,
)

#: published codes of well-known companies (each verified below before use)
REAL_USCC = {
    "华为技术有限公司": "914403001922038216",
    "腾讯科技（深圳）有限公司": "9144030071526726XG",
    "阿里巴巴（中国）有限公司": "91330100799655058B",
    "中国银行股份有限公司": "911000001000013428",
    "小米科技有限责任公司": "91110108551385082Q",
}
CODES = list(REAL_USCC.values())


def mutations(code: str):
    """Every code one alphabet character away from `code`: 18 positions x 30 characters."""
    for i in range(18):
        for a in USCC_ALPHABET:
            if a != code[i]:
                yield i, code[:i] + a + code[i + 1 :]


@pytest.mark.parametrize("code", CODES)
def test_real_codes_pass_both_checks(code):
    assert is_valid_uscc(code)
    assert uscc_check_char(code[:17]) == code[17]
    assert is_valid_org_code(code[8:17])
    assert embedded_org_code(code) == f"{code[8:16]}-{code[16]}"


@pytest.mark.parametrize("code", CODES)
def test_every_single_character_mutation_fails(code):
    # Changing position i by d (mod 31) changes the weighted sum by w_i * d, and w_i = 3^i is
    # invertible mod 31 (31 is prime), so the check can never still hold: the count must be 0.
    valid = [m for _, m in mutations(code) if uscc_checksum_ok(m)]
    assert len(list(mutations(code))) == 18 * 30
    assert valid == []


@pytest.mark.parametrize("code", CODES)
def test_characters_outside_the_alphabet_fail(code):
    for i in range(18):
        for bad in "IOSVZ":
            assert not is_valid_uscc(code[:i] + bad + code[i + 1 :])


@pytest.mark.parametrize("code", CODES)
def test_repair_of_a_single_mutation_never_gives_a_different_code(code):
    fixed = 0
    for i, m in mutations(code):
        r = repair_uscc(m)
        assert r in (None, code), (i, m, r)
        fixed += r == code
        # in typed text an in-alphabet error is never guessed at
        assert repair_uscc(m, in_alphabet=False) is None
    # only errors inside the embedded organisation code (positions 9-17) are located by its check
    assert 0 < fixed <= 9 * 30


@pytest.mark.parametrize("code", CODES)
def test_ocr_confusions_are_repaired_through_the_checksum(code):
    for i, ch in enumerate(code):
        for read_as, meant in OCR_CONFUSIONS.items():
            if meant != ch or read_as in USCC_ALPHABET:
                continue
            damaged = code[:i] + read_as + code[i + 1 :]
            assert repair_uscc(damaged) == code
            assert repair_uscc(damaged.lower()) == code


def test_two_errors_are_not_repaired():
    code = CODES[0]
    assert repair_uscc("O" + code[1:8] + "I" + code[9:]) is None


def test_org_code_check_characters():
    assert org_check_char("00000006") == "X"  # 11 - 12 % 11 = 10
    assert org_check_char("00000000") == "0"  # 11 - 0 = 11
    assert is_valid_org_code("00000006-X")
    assert is_valid_org_code("192203821")
    assert not is_valid_org_code("192203822")
    assert not is_valid_org_code("19220382")


def test_find_codes_with_spaces_full_width_and_line_breaks():
    text = "统一社会信用代码：９１４４ ０３００ １９２２\n０３８２ １６，组织机构代码：19220382-1。"
    found = find_codes(text)
    assert [(c.kind, c.value, c.valid) for c in found] == [
        ("uscc", "914403001922038216", True),
        ("org_code", "192203821", True),
    ]
    for c in found:
        assert text[c.start : c.end] == c.raw
    assert found[0].keyword and found[1].keyword


def test_find_codes_skips_account_names_phone_numbers_and_id_numbers():
    text = "账号zxkt_abc123，电话13812345678，身份证号110101199003074514，日期2026-11-20。"
    assert find_codes(text) == []


def test_find_codes_reports_a_failing_code():
    (c,) = find_codes("统一社会信用代码914403001922038217")
    assert (c.valid, c.repaired) == (False, False)


def test_find_codes_repairs_ocr_confusion_and_keeps_the_original():
    (c,) = find_codes("统一社会信用代码 9144O3001922O38216".replace("O38", "038"))
    assert c.valid and c.repaired
    assert c.value == "914403001922038216"
    assert c.original == "9144O3001922038216"


def test_find_codes_in_typed_text_does_not_guess_in_alphabet_errors():
    code = CODES[2]
    bad = code[:10] + ("7" if code[10] != "7" else "8") + code[11:]
    (c,) = find_codes(f"统一社会信用代码{bad}", repair="alphabet")
    assert not c.valid
    (c,) = find_codes(f"统一社会信用代码{bad}", repair="none")
    assert not c.valid


def test_check_code_treats_the_whole_text_as_one_code():
    assert check_code("9144 0300 1922 0382 16").value == "914403001922038216"
    assert check_code("19220382-1").kind == "org_code"
    assert check_code("上海某某") is None


def _valid_uscc(rng: random.Random) -> str:
    body = "91" + "".join(rng.choice("0123456789") for _ in range(6))
    org = "".join(rng.choice("0123456789") for _ in range(8))
    body += org + org_check_char(org)
    return body + uscc_check_char(body)


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    before=st.text(alphabet="的公司统一社会信用代码为：，。 ", max_size=12),
    after=st.text(alphabet="的公司，。 ", max_size=8),
    sep=st.sampled_from(["", " ", "-", "\n"]),
    width=st.sampled_from([False, True]),
)
def test_property_a_valid_code_is_found_however_written(seed, before, after, sep, width):
    code = _valid_uscc(random.Random(seed))
    shown = sep.join(code[i : i + 6] for i in range(0, 18, 6))
    if width:
        shown = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in shown)
    text = f"{before}{shown}{after}"
    found = [c for c in find_codes(text) if c.kind == "uscc"]
    assert [c.value for c in found] == [code]
    assert text[found[0].start : found[0].end] == found[0].raw


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10**9),
    pos=st.integers(0, 17),
    bad=st.sampled_from(sorted(set(OCR_CONFUSIONS) - set(USCC_ALPHABET))),
)
def test_property_one_unreadable_character_is_repaired_or_left_alone(seed, pos, bad):
    code = _valid_uscc(random.Random(seed))
    damaged = code[:pos] + bad + code[pos + 1 :]
    assert repair_uscc(damaged) in (code, None)
    if OCR_CONFUSIONS[bad] == code[pos]:
        assert repair_uscc(damaged) == code
