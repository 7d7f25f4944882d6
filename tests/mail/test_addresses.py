"""Strict addresses: exactly one plain mailbox, or a Chinese reason why not."""

from __future__ import annotations

import pytest

from helpdesk.mail.addresses import mailboxes, single_mailbox


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zhang@example-corp.cn", "zhang@example-corp.cn"),
        ("张三 <Zhang@Corp.CN>", "Zhang@corp.cn"),  # the domain is case-free, the user name is not
        ("=?utf-8?b?5byg5LiJ?= <li.si+fund@corp.cn>", "li.si+fund@corp.cn"),
        ("wang@例子.中国", "wang@xn--fsqu00a.xn--fiqs8s"),  # IDN domain, ASCII envelope
    ],
)
def test_a_plain_mailbox_is_accepted(text, expected):
    assert single_mailbox(text) == (expected, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('"x" <"a,b@evil.example"@corp.example>', "用户名部分不是普通形式"),
        ('a,b@evil.example"@corp.example', "格式不合规范"),
        ('"a b"@corp.cn', "用户名部分不是普通形式"),
        ("ok@corp.cn, b@evil.example", "恰好是一个邮箱，实际为 2 个"),
        ("undisclosed-recipients:;", "收件人组"),
        ("g: ok@corp.cn;", "收件人组"),
        ("ok@corp.cn\r\nBcc: b@evil.example", "换行或控制字符"),
        ("ok@corp.cn\u2028", "换行或控制字符"),
        ("ok@corp.cn\x85", "换行或控制字符"),
        ("ok@corp.cn\x00", "换行或控制字符"),
        ("<@evil.example:ok@corp.cn>", "格式不合规范"),
        ("ok@[127.0.0.1]", "域名无效"),
        ("ok@localhost", "域名无效"),
        ("ok@-corp.cn", "域名无效"),
        ("a..b@corp.cn", "格式不合规范"),
        ("张三@corp.cn", "non-ASCII"),
        ("", "没有邮箱地址"),
        ("ok", "no domain"),
        ("x" * 250 + "@corp.cn", "地址过长"),
    ],
)
def test_anything_else_is_refused_with_a_reason(text, reason):
    address, problem = single_mailbox(text)
    assert address is None and problem is not None and reason in problem


def test_an_address_list_is_all_valid_or_refused_as_a_whole():
    assert mailboxes("") == ([], None)
    assert mailboxes("a@corp.cn, 李四 <b@corp.cn>") == (["a@corp.cn", "b@corp.cn"], None)
    found, problem = mailboxes('a@corp.cn, "x" <"c,d@evil.example"@corp.cn>')
    assert found == [] and problem and "用户名部分" in problem
