"""The tuning set of free-wording letters (issue 12): the wordings enterprises use besides the templates.

Its phrase banks, names and reasons are its own; `heldout.py` has different ones and is never tuned
on. ``make_free(k) -> Case``: the k-th letter, its mail and its truth, decided by k.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from tests.letters.forms import FORMS, SCAN_FORMS, Written, deliver, make_mail
from tests.letters.make_letters import (
    ADDRESSEE,
    TODAY,
    Case,
    broken_org_code,
    broken_uscc,
    cn_date,
    fullwidth,
    licence_lines,
    make_uscc,
    nfkc,
    text_pdf,
)

CITIES = ["沈阳", "大连", "哈尔滨", "长春", "石家庄", "太原", "昆明", "贵阳", "南宁", "海口", "兰州", "西安"]
CORES = ["中联", "金达", "万通", "恒丰", "宝利", "华信", "永盛", "信达", "昌隆", "兴业", "鸿运", "广源"]
RARE_CORES = ["镕信", "喆远", "犇腾", "燚华"]
TRADES = ["外贸", "商贸", "针织", "电器", "物流", "农产品", "医疗器械", "汽配", "建材", "包装"]
PINYIN = ["zhonglian", "jinda", "wantong", "hengfeng", "baoli", "huaxin", "yongsheng", "xinda"]
REASONS = [
    "经办人员变动",
    "原账号密码遗失无法登录",
    "该账号已不再使用",
    "企业只需保留一个账号",
    "经商务主管部门同意",
    "资质审核异常",
]
CHANGE_REASONS = ["注册时信息填写错误", "营业执照换发后代码变化", "录入时把代码输错"]
VERBS = {"unbind": "解绑", "cancel": "注销"}
TRAD = {"unbind": "解綁", "cancel": "註銷"}


def company_name(rng: random.Random, rare: bool = False) -> str:
    core = rng.choice(RARE_CORES if rare else CORES)
    return f"{rng.choice(CITIES)}{core}{rng.choice(TRADES)}{rng.choice(['有限公司', '股份有限公司'])}"


def account_name(rng: random.Random) -> str:
    r = rng.random()
    py = rng.choice(PINYIN)
    if r < 0.4:
        return f"zxkt_{py}{rng.randint(1, 9)}"
    if r < 0.7:
        return f"{py}{rng.randint(1000, 9999)}"
    if r < 0.85:
        return f"{py}_trade_{rng.randint(10, 99)}"
    return f"1{rng.choice('3689')}{rng.randint(0, 999999999):09d}"


def date_text(d: date, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return f"{d.year}年{d.month}月{d.day}日"
    if r < 0.65:
        return f"{d.year}-{d.month:02d}-{d.day:02d}"
    if r < 0.8:
        return cn_date(d)
    return fullwidth(f"{d.year}年{d.month:02d}月{d.day:02d}日")


def _accounts(rng: random.Random) -> list[str]:
    n = rng.choice([2, 2, 3, 4])
    out: list[str] = []
    while len(out) < n:
        a = account_name(rng)
        if a not in out:
            out.append(a)
    return out


def _cn(n: int) -> str:
    return "两" if n == 2 else "一二三四五六七八九"[n - 1]


def unbind_cancel(kind: str, rng: random.Random, style: str, company: str, day: str):
    verb = VERBS[kind]
    accts = _accounts(rng)
    target = rng.choice(accts)
    keep = [a for a in accts if a != target]
    n = len(accts)
    reason = rng.choice(REASONS)
    truth: dict[str, object] = {
        "account_names": accts,
        "target_accounts": [target],
        "account_count": n,
        "reason": nfkc(reason),
    }
    count = rng.choice([f"{n}个", f"{_cn(n)}个", f"{fullwidth(str(n))}个"])
    table: list[tuple[str, str]] = []
    sig = [company, day]
    if style == "paren":
        title = f"{verb}说明"
        paras = [
            ADDRESSEE,
            f"{company}在商务部业务系统统一平台存在{count}账号（{'、'.join(accts)}），因{reason}，"
            f"在此申请{verb}{target}，{verb}后对企业之前申报项目无影响。",
            "特此说明！",
        ]
    elif style == "casual":
        title = f"{verb}一下账号"
        paras = [
            "你好，",
            f"我们是{company}的，公司在统一平台有{count}号：{' 和 '.join(accts)}。因为{reason}，想把{target}{verb}掉，"
            f"{keep[0]}继续用。",
        ]
    elif style == "numbered":
        title = f"{verb}申请"
        paras = [
            ADDRESSEE,
            f"我司{company}申请如下：",
            f"1. 我司在统一平台共有{count}账号，分别是{'，'.join(accts)}；",
            f"2. 申请{verb}的账号：{target}；",
            f"3. 事由：{reason}。",
        ]
    elif style == "keep_remove":
        title = f"{verb}说明"
        paras = [
            ADDRESSEE,
            f"{company}名下统一平台账号共{count}：",
            f"需要保留的账号：{'、'.join(keep)}",
            f"需要{verb}的账号：{target}",
            f"{verb}原因：{reason}",
        ]
    elif style == "tabs":
        title = f"{verb}说明"
        paras = [
            ADDRESSEE,
            f"公司名称\t{company}",
            f"账号个数\t{n}",
            f"账号名称\t{'、'.join(accts)}",
            f"{verb}账号\t{target}",
            f"事由\t{reason}",
        ]
    elif style == "form":
        title = f"统一平台账号{verb}申请单"
        table = [
            ("申请单位", company),
            ("名下账号个数", str(n)),
            ("账号列表", "，".join(accts)),
            (f"拟{verb}账号", target),
            (f"{verb}事由", reason),
        ]
        paras = [ADDRESSEE, "我司承诺以上内容真实。"]
    elif style == "licence_words":
        title = f"{verb}说明"
        uscc = make_uscc(rng)
        truth["uscc"] = [uscc]
        paras = [
            ADDRESSEE,
            f"{company}（统一社会信用代码：{uscc}，法定代表人：王刚，住所：{rng.choice(CITIES)}市某路8号）"
            f"在商务部业务系统统一平台存在{count}账号，账号信息分别是{'、'.join(accts)}，由于{reason}原因，"
            f"现申请{verb}{target}，账号{verb}后对企业之前申报项目无影响。",
            "特此说明！",
        ]
    else:  # "trad": traditional characters mixed in
        title = f"{TRAD[kind]}說明"
        paras = [
            ADDRESSEE,
            f"{company}在統一平台存在{count}帳號，帳號信息分別是{'、'.join(accts)}，因{reason}，現申請{TRAD[kind]}{target}。",
        ]
    return Written(title, paras, sig, table), truth


def change(rng: random.Random, style: str, company: str, day: str):
    account = account_name(rng)
    reason = rng.choice(CHANGE_REASONS)
    new_u = make_uscc(rng)
    old_u = broken_uscc(new_u, rng)
    org = new_u[8:17]
    new_o = f"{org[:8]}-{org[8]}"
    bad = broken_org_code(org, rng)
    old_o = f"{bad[:8]}-{bad[8]}"
    truth: dict[str, object] = {"account_names": [account], "reason": nfkc(reason), "uscc": [new_u]}
    pairs = [(old_u, new_u)]
    table: list[tuple[str, str]] = []
    sig = [company, day]
    if style == "bracket":
        title = "变更说明"
        paras = [
            ADDRESSEE,
            f"{company}在商务部业务系统统一平台账号{account}，由于{reason}原因，现申请更改商务部业务系统统一平台"
            f"外贸发展专项资金（中小）网络管理应用统一社会信用代码（{old_u}改为{new_u}），变更后对企业之前申报项目无影响。",
            "特此说明！",
        ]
    elif style == "no_marker":
        title = "变更说明"
        paras = [
            ADDRESSEE,
            f"我们是{company}，账号{account}。因为{reason}，想把统一社会信用代码{old_u}修改为{new_u}。",
        ]
    elif style == "said":
        title = "关于修改统一社会信用代码的说明"
        paras = [
            ADDRESSEE,
            f"{company}（账号：{account}）的统一社会信用代码原来填的是{old_u}，正确的是{new_u}，因{reason}，在此申请修改。",
        ]
    elif style == "both":
        title = "变更说明"
        truth["org_code"] = [new_o]
        pairs.append((old_o, new_o))
        paras = [
            ADDRESSEE,
            f"{company}在统一平台账号{account}，由于{reason}原因，申请把统一社会信用代码{old_u}更正为{new_u}，"
            f"同时组织机构代码{old_o}更正为{new_o}。",
        ]
    elif style == "labels":
        title = "信息更正申请"
        paras = [
            ADDRESSEE,
            f"企业名称：{company}",
            f"平台账号：{account}",
            f"错误代码：{old_u}",
            f"正确代码：{new_u}",
            f"事由：{reason}",
        ]
    elif style == "form":
        title = "资质信息修改申请表"
        table = [
            ("企业名称", company),
            ("账号", account),
            ("修改项目", "统一社会信用代码"),
            ("修改前", old_u),
            ("修改后", new_u),
            ("修改原因", reason),
        ]
        paras = [ADDRESSEE, "修改后对企业之前申报项目无影响。"]
    else:  # "trad"
        title = "變更說明"
        paras = [
            ADDRESSEE,
            f"{company}在統一平台帳號{account}，因{reason}，現申請將統一社會信用代碼由{old_u}變更為{new_u}。",
        ]
    truth["pairs"] = pairs
    return Written(title, paras, sig, table), truth


# --- the second phrase bank (letters 140 on): how staff state the reason --------------------------

REASONS_2 = [
    "公司人员变动",
    "原负责人已离职",
    "账号长期未使用",
    "公司业务调整",
    "重复注册了账号",
    "注册时误操作多注册了一个账号",
    "原绑定手机号已停用",
    "经办人更换",
]
#: a reason stated as a sentence of its own, without a marker word
PLAIN_2 = ["人员变动", "公司内部人员调整", "原经办人已离职", "该账号已停用", "此账号目前无人使用"]
APPROVERS_2 = ["公司董事会", "集团总部", "公司总经理办公会"]
PURPOSES_2 = ["便于统一管理", "规范公司账号管理"]
CHANGE_REASONS_2 = ["工商登记信息变更", "三证合一后代码更新", "填报时笔误", "系统录入时出错"]
STYLES_2 = {
    "unbind_cancel": [
        "now_because",
        "due_to_need",
        "approval",
        "plain_sentence",
        "plain_clause",
        "reason_is",
        "so",
        "given",
        "label_reason",
        "table_reason",
        "because_so",
        "purpose",
    ],
    "change": ["now_because", "label_reason", "reason_after", "so", "table_reason"],
}


def unbind_cancel_2(kind: str, rng: random.Random, style: str, company: str, day: str):
    verb = VERBS[kind]
    accts = _accounts(rng)
    target = rng.choice(accts)
    keep = [a for a in accts if a != target]
    n = len(accts)
    reason = rng.choice(REASONS_2)
    count = rng.choice([f"{n}个", f"{_cn(n)}个"])
    listed = "、".join(accts)
    table: list[tuple[str, str]] = []
    if style == "now_because":
        paras = [
            ADDRESSEE,
            f"{company}在统一平台共有{count}账号：{listed}。现因{reason}，特申请{verb}账号{target}，保留{keep[0]}。",
        ]
    elif style == "due_to_need":
        paras = [
            ADDRESSEE,
            f"我单位{company}在统一平台注册了{listed}共{count}账号。由于{reason}，需要{verb}其中的{target}。",
            "请予办理。",
        ]
    elif style == "approval":
        reason = f"经{rng.choice(APPROVERS_2)}{rng.choice(['批准', '同意', '审批同意'])}"
        paras = [
            ADDRESSEE,
            f"{company}在统一平台存在{count}账号（{listed}）。{reason}，现申请{verb}{target}。",
            "特此说明。",
        ]
    elif style == "plain_sentence":
        reason = rng.choice(PLAIN_2)
        paras = [
            "您好：",
            f"{company}在统一平台有{count}账号：{listed}。{reason}。麻烦帮我们把{target}{verb}，谢谢！",
        ]
    elif style == "plain_clause":
        reason = rng.choice(PLAIN_2)
        paras = [ADDRESSEE, f"{company}在统一平台的账号为{listed}，{reason}，现申请{verb}{target}。"]
    elif style == "reason_is":
        paras = [
            ADDRESSEE,
            f"{company}在统一平台存在{count}账号，分别是{listed}。现申请{verb}{target}。"
            f"{verb}原因{rng.choice(['是', '为'])}{reason}。",
        ]
    elif style == "so":
        paras = [
            ADDRESSEE,
            f"{company}在统一平台有{count}账号：{listed}。{reason}，{rng.choice(['故', '所以'])}申请{verb}{target}。",
        ]
    elif style == "given":
        paras = [
            ADDRESSEE,
            f"鉴于{reason}，{company}申请{verb}统一平台账号{target}（名下账号共{count}：{listed}）。",
        ]
    elif style == "label_reason":
        label = rng.choice(["申请原因", "理由", "情况说明", f"{verb}事由"])
        paras = [
            ADDRESSEE,
            f"单位名称：{company}",
            f"统一平台账号：{listed}",
            f"申请{verb}的账号：{target}",
            f"{label}：{reason}",
        ]
    elif style == "table_reason":
        table = [
            ("单位名称", company),
            ("账号数量", str(n)),
            ("全部账号", "、".join(accts)),
            (f"拟{verb}账号", target),
            (rng.choice(["申请理由", "申请事由", "原因"]), reason),
        ]
        paras = [ADDRESSEE, "以上情况属实，请予办理。"]
    elif style == "because_so":
        paras = [
            "老师好，",
            f"我们是{company}，统一平台上有{count}号（{listed}），因为{reason}，所以想{verb}{target}。",
        ]
    else:  # "purpose"
        reason = rng.choice(PURPOSES_2)
        paras = [
            ADDRESSEE,
            f"为{reason}，{company}申请{verb}统一平台账号{target}，现有账号共{count}：{listed}。",
        ]
    title = rng.choice([f"{verb}说明", f"关于{verb}统一平台账号的申请", f"账号{verb}申请"])
    truth: dict[str, object] = {
        "account_names": accts,
        "target_accounts": [target],
        "account_count": n,
        "reason": nfkc(reason),
    }
    if style in ("plain_clause", "label_reason"):
        del truth["account_count"]  # the letter lists the accounts without saying how many
    return Written(title, paras, [company, day], table), truth


def change_2(rng: random.Random, style: str, company: str, day: str):
    account = account_name(rng)
    reason = rng.choice(CHANGE_REASONS_2)
    new_u = make_uscc(rng)
    old_u = broken_uscc(new_u, rng)
    table: list[tuple[str, str]] = []
    if style == "now_because":
        paras = [
            ADDRESSEE,
            f"{company}（账号{account}）现因{reason}，需将统一社会信用代码由{old_u}变更为{new_u}。",
        ]
    elif style == "label_reason":
        paras = [
            ADDRESSEE,
            f"企业名称：{company}",
            f"账号：{account}",
            f"原统一社会信用代码：{old_u}",
            f"正确统一社会信用代码：{new_u}",
            f"变更原因：{reason}",
        ]
    elif style == "reason_after":
        paras = [
            ADDRESSEE,
            f"{company}账号{account}的统一社会信用代码原为{old_u}，现申请变更为{new_u}。原因是{reason}。",
        ]
    elif style == "so":
        paras = [
            ADDRESSEE,
            f"{company}账号{account}：{reason}，所以需要将统一社会信用代码由{old_u}改为{new_u}。",
        ]
    else:  # "table_reason"
        table = [
            ("企业名称", company),
            ("平台账号", account),
            ("变更前", old_u),
            ("变更后", new_u),
            ("变更事由", reason),
        ]
        paras = [ADDRESSEE, "变更后对企业之前申报项目无影响。"]
    title = rng.choice(["变更说明", "关于变更统一社会信用代码的申请"])
    truth: dict[str, object] = {
        "account_names": [account],
        "reason": nfkc(reason),
        "uscc": [new_u],
        "pairs": [(old_u, new_u)],
    }
    return Written(title, paras, [company, day], table), truth


def recovery(rng: random.Random, company: str, day: str):
    uscc = make_uscc(rng)
    title = rng.choice(["账号找回申请表", "找回统一平台账号的说明"])
    paras = [
        ADDRESSEE,
        f"{company}，统一社会信用代码{uscc}，因原经办人离职，已忘记统一平台账号和密码，现申请找回账号。",
    ]
    return Written(title, paras, [company, day]), {"uscc": [uscc]}


INQUIRIES = [
    "你好，请问怎么解绑？我们公司有两个账号。",
    "请问变更组织机构代码的说明模板在哪里？",
    "咨询：注销账号要多久能办好？",
    "老师，解绑以后还能再绑定吗？",
]
STYLES = {
    "unbind": ["paren", "casual", "numbered", "keep_remove", "tabs", "form", "licence_words", "trad"],
    "cancel": ["paren", "casual", "numbered", "keep_remove", "tabs", "form", "licence_words", "trad"],
    "change": ["bracket", "no_marker", "said", "both", "labels", "form", "trad"],
}
N_FREE = 220
N_FREE_1 = 140  #: letters before this use the first phrase bank, the rest the second


def make_free(k: int, *, form: str | None = None) -> Case:
    """The k-th free-wording tuning letter."""
    rng = random.Random(7_000_000 + k)
    kind = rng.choices(["change", "unbind", "cancel", "recovery", "inquiry"], [30, 25, 25, 10, 10])[0]
    form = form or rng.choices(list(FORMS), [12, 10, 8, 8, 10, 5, 3, 4, 14, 8])[0]
    scan = form in SCAN_FORMS
    company = company_name(rng, rare=scan and rng.random() < 0.3)
    day = TODAY - timedelta(days=rng.randint(1, 30))
    truth: dict[str, object] = {"type": kind}
    if kind == "inquiry":
        mail = make_mail(subject=rng.choice(["问题", "咨询解绑", ""]), text=rng.choice(INQUIRIES))
        return Case(f"free-{k}-inquiry-body", mail, truth, "body")
    if kind == "recovery":
        w, extra = recovery(rng, company, date_text(day, rng))
    elif kind == "change" and k >= N_FREE_1:
        w, extra = change_2(rng, rng.choice(STYLES_2["change"]), company, date_text(day, rng))
    elif kind == "change":
        w, extra = change(rng, rng.choice(STYLES["change"]), company, date_text(day, rng))
    elif k >= N_FREE_1:
        style = rng.choice(STYLES_2["unbind_cancel"])
        w, extra = unbind_cancel_2(kind, rng, style, company, date_text(day, rng))
    else:
        w, extra = unbind_cancel(kind, rng, rng.choice(STYLES[kind]), company, date_text(day, rng))
    truth.update(extra)
    truth["company_name"] = nfkc(company)
    truth["letter_date"] = day.isoformat()
    if form == "docx_table" and not w.table:
        form = "docx"
    seal = rng.random() < 0.7
    verb = {"change": "变更", "unbind": "解绑", "cancel": "注销", "recovery": "找回"}[kind]
    filename = rng.choice([f"{verb}说明", "scan", company, "申请"])
    attachments, text, html_text = deliver(
        f"free-{k}", w, form, filename=filename, seed=7_000_000 + k, seal=seal, rotate=rng.uniform(-1, 1)
    )
    if scan:
        truth["seal"] = "seal" if seal else "none"
    structure = rng.random()
    if form not in ("body", "html"):
        if structure < 0.12:
            text = f"以下是我们之前发的说明，请处理。\n\n在 2026年11月2日 {company} 写道：\n\n{w.text()}"
        else:
            text = rng.choice(["附件为盖章说明。", "请查收附件，谢谢！", ""])
    elif form == "body" and structure < 0.25:
        text = f"转给你们看一下：\n\n-------- Forwarded message --------\n主题：{w.title}\n\n{text}"
    if kind in ("unbind", "cancel"):
        if rng.random() < 0.7:
            uscc = str(truth.get("uscc", [make_uscc(rng)])[0])
            attachments.append(("营业执照扫描件.pdf", text_pdf([licence_lines(company, uscc, rng)])))
            truth["uscc"] = sorted({*truth.get("uscc", []), uscc})
            truth["has_licence"] = True
        else:
            truth["has_licence"] = False
    subject = rng.choice([f"{company}{verb}", "说明材料", f"Re: {verb}", "账号"])
    if scan and rng.random() < 0.5:
        subject = f"{company}{verb}说明"
    mail = make_mail(subject=subject, text=text, html_text=html_text, attachments=attachments)
    return Case(f"free-{k}-{kind}-{form}", mail, truth, form, letter_text=w.text())
