"""The held-out letters: free wording that no extraction rule is tuned on.

Written before the rules were changed for issue 12, with its own phrase banks, company names,
account names and reasons (none shared with `freegen.py`, the tuning set). Do not add rules for
the failures seen here; report its figures as they are (bench/letters.py --set heldout).

``make_heldout(k) -> Case``: the k-th held-out letter, its mail and its truth, decided by k.
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

CITIES = ["温州", "绍兴", "嘉兴", "泉州", "福州", "南昌", "长沙", "郑州", "济南", "烟台", "无锡", "佛山"]
CORES = ["瀚海", "鼎盛", "隆泰", "永昌", "德润", "安泰", "锦程", "华茂", "天成", "润禾", "博远", "耀华"]
RARE_CORES = ["镕达", "喆盛", "堃泰", "淼鑫"]
TRADES = ["国际贸易", "实业", "工贸", "五金", "塑胶", "箱包", "陶瓷", "灯饰", "玩具", "照明"]
PINYIN = ["hanhai", "dingsheng", "longtai", "yongchang", "derun", "antai", "jincheng", "huamao"]
REASONS = [
    "原注册账号的手机号已停用",
    "公司财务人员更换",
    "该账号为测试时误注册",
    "统一平台账号信息与营业执照不一致",
    "申报时提示账号资质异常",
    "重复注册了账号",
]
CHANGE_REASONS = [
    "工作人员录入失误",
    "注册时误填了其他企业的代码",
    "三证合一后代码已更新",
    "填报时少输了一位",
]
VERBS = {"unbind": "解绑", "cancel": "注销"}
TRAD = {"unbind": "解綁", "cancel": "註銷"}


def company_name(rng: random.Random, rare: bool = False) -> str:
    core = rng.choice(RARE_CORES if rare else CORES)
    return f"{rng.choice(CITIES)}{core}{rng.choice(TRADES)}{rng.choice(['有限公司', '有限责任公司'])}"


def account_name(rng: random.Random) -> str:
    r = rng.random()
    py = rng.choice(PINYIN)
    if r < 0.35:
        return f"zxkt_{py}{rng.randint(10, 99)}"
    if r < 0.65:
        return f"{py}_{rng.randint(2015, 2025)}"
    if r < 0.85:
        return f"{py[:2]}{py[-3:]}{rng.randint(100, 999)}"
    return f"1{rng.choice('3578')}{rng.randint(0, 999999999):09d}"


def date_text(d: date, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.45:
        return f"{d.year}年{d.month}月{d.day}日"
    if r < 0.6:
        return f"{d.year}.{d.month:02d}.{d.day:02d}"
    if r < 0.8:
        return cn_date(d)
    return fullwidth(f"{d.year}年{d.month}月{d.day}日")


def _accounts(rng: random.Random) -> list[str]:
    n = rng.choice([2, 2, 3, 3, 4])
    out: list[str] = []
    while len(out) < n:
        a = account_name(rng)
        if a not in out:
            out.append(a)
    return out


def _cn(n: int) -> str:
    return "两" if n == 2 else "一二三四五六七八九"[n - 1]


# --- unbind / cancel ----------------------------------------------------------------------------


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
    listed = "、".join(accts)
    table: list[tuple[str, str]] = []
    sig = [company, day]
    if style == "template":
        title = f"{verb}说明"
        paras = [
            ADDRESSEE,
            f"{company}在商务部业务系统统一平台存在{count}账号，账号信息分别是{listed}，由于{reason}原因，"
            f"现申请{verb}{target}，账号{verb}后对企业之前申报项目无影响。",
            "特此说明！",
        ]
    elif style == "casual":
        title = rng.choice([f"关于{verb}账号", f"{verb}账号的事"])
        paras = [
            "老师您好！",
            f"我们是{company}，之前在统一平台上注册过{count}账号，{listed}。{reason}，"
            f"麻烦帮我们把{target}{verb}一下，谢谢！",
        ]
    elif style == "numbered":
        title = f"账号{verb}申请"
        paras = [
            ADDRESSEE,
            f"一、企业名称：{company}",
            f"二、账号情况：我司共有{count}账号（{listed}）",
            f"三、申请事项：{verb}账号{target}",
            f"四、{verb}原因：{reason}",
            f"五、{verb}后对之前申报的项目无影响。",
        ]
    elif style == "keep_remove":
        title = f"{verb}说明"
        paras = [
            ADDRESSEE,
            f"{company}现有统一平台账号：{'，'.join(accts)}",
            f"保留账号：{'、'.join(keep)}",
            f"需{verb}账号：{target}",
            f"原因：因为{reason}，想只保留一个账号。",
        ]
        del truth["account_count"]  # this wording states no count
    elif style == "about":
        title = f"关于{verb}统一平台账号的申请"
        remark = f"（其中{keep[0]}继续使用）"
        paras = [
            ADDRESSEE,
            f"{company}因{reason}，在商务部业务系统统一平台的账号{target}需要{verb}。"
            f"我司在该平台共{count}账号，分别为{listed}{remark}。",
            f"{verb}后对以前申报的项目没有影响。",
        ]
    elif style == "form":
        title = f"统一平台账号{verb}申请表"
        table = [
            ("单位名称", company),
            ("账号数量", str(n)),
            ("全部账号", "、".join(accts)),
            (f"申请{verb}账号", target),
            ("事由", reason),
        ]
        paras = [ADDRESSEE, "以上信息属实，特此申请。"]
    else:  # traditional characters mixed in
        title = f"{TRAD[kind]}說明"
        paras = [
            ADDRESSEE,
            f"本公司{company}在統一平台有{count}帳號：{listed}，由於{reason}原因，現申請{TRAD[kind]}{target}。",
            "特此說明！",
        ]
    return Written(title, paras, sig, table), truth


# --- change ---------------------------------------------------------------------------------------


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
    if style == "template":
        title = "变更说明"
        paras = [
            ADDRESSEE,
            f"{company}在商务部业务系统统一平台账号{account}，由于{reason}原因，现申请更改商务部业务系统统一平台"
            f"外贸发展专项资金（中小）网络管理应用统一社会信用代码（由{old_u}变更为{new_u}），"
            f"确认只修改统一社会信用代码，变更后对企业之前申报项目无影响。",
            "特此说明！",
        ]
    elif style == "casual":
        title = "信用代码修改"
        paras = [
            "您好，",
            f"我们是{company}，统一平台账号是{account}。当初注册时统一社会信用代码填错了，原来填的是{old_u}，"
            f"正确的是{new_u}，因为{reason}，想请老师帮忙改一下。",
        ]
    elif style == "numbered":
        title = "资质信息变更申请"
        paras = [
            ADDRESSEE,
            f"1. 企业名称：{company}",
            f"2. 统一平台账号：{account}",
            f"3. 变更事由：{reason}",
            f"4. 我司统一社会信用代码{old_u}修改为{new_u}。",
            "5. 变更后对企业之前申报项目无影响。",
        ]
    elif style == "both":
        title = "变更说明"
        truth["org_code"] = [new_o]
        pairs.append((old_o, new_o))
        paras = [
            ADDRESSEE,
            f"{company}（统一平台账号{account}）因{reason}，在系统中填写的代码有误，"
            f"现申请将统一社会信用代码由{old_u}变更为{new_u}，组织机构代码由{old_o}变更为{new_o}。",
            "变更后对企业之前申报项目无影响。",
        ]
    elif style == "labels":
        title = "关于更正统一社会信用代码的说明"
        paras = [
            ADDRESSEE,
            f"单位名称：{company}",
            f"账号：{account}",
            f"原代码：{old_u}",
            f"正确代码：{new_u}",
            f"更正原因：{reason}",
        ]
    elif style == "form":
        title = "企业信息变更申请表"
        truth["org_code"] = [new_o]
        pairs.append((old_o, new_o))
        table = [
            ("企业名称", company),
            ("统一平台账号", account),
            ("原统一社会信用代码", old_u),
            ("正确统一社会信用代码", new_u),
            ("原组织机构代码", old_o),
            ("正确组织机构代码", new_o),
            ("事由", reason),
        ]
        paras = [ADDRESSEE, "以上变更对企业之前申报项目无影响。"]
    else:  # traditional characters mixed in
        title = "變更說明"
        paras = [
            ADDRESSEE,
            f"{company}在統一平台帳號{account}，由於{reason}原因，現申請把統一社會信用代碼由{old_u}更正為{new_u}，"
            f"變更後對企業之前申報項目無影響。",
        ]
    truth["pairs"] = pairs
    return Written(title, paras, sig, table), truth


def recovery(rng: random.Random, company: str, day: str):
    uscc = make_uscc(rng)
    title = rng.choice(["找回账号申请", "关于找回统一平台账号的申请"])
    paras = [
        ADDRESSEE,
        f"我公司{company}（统一社会信用代码：{uscc}）忘记了统一平台的登录账号，原经办人已离职，申请找回账号。",
    ]
    return Written(title, paras, [company, day]), {"uscc": [uscc]}


INQUIRIES = [
    "请问企业有两个统一平台账号，怎么解绑其中一个？需要准备什么材料？",
    "老师好，变更统一社会信用代码需要提交哪些材料？模板在哪里下载？",
    "想咨询一下注销账号以后，之前申报的项目还能查到吗？",
    "请问解绑说明要不要盖公章？发到哪个邮箱？",
]

# style per kind; each letter picks one
STYLES = {
    "unbind": ["template", "casual", "numbered", "keep_remove", "about", "form", "trad"],
    "cancel": ["template", "casual", "numbered", "keep_remove", "about", "form", "trad"],
    "change": ["template", "casual", "numbered", "both", "labels", "form", "trad"],
}
N_HELDOUT = 100


def make_heldout(k: int, *, form: str | None = None) -> Case:
    """The k-th held-out letter (0 <= k < N_HELDOUT for the standard set)."""
    rng = random.Random(9_000_000 + k)
    kind = rng.choices(["change", "unbind", "cancel", "recovery", "inquiry"], [30, 25, 25, 10, 10])[0]
    form = form or rng.choices(list(FORMS), [12, 10, 8, 8, 10, 5, 3, 4, 14, 8])[0]
    scan = form in SCAN_FORMS
    company = company_name(rng, rare=scan and rng.random() < 0.3)
    day = TODAY - timedelta(days=rng.randint(1, 30))
    truth: dict[str, object] = {"type": kind}
    if kind == "inquiry":
        mail = make_mail(subject=rng.choice(["咨询", "请教一个问题", ""]), text=rng.choice(INQUIRIES))
        return Case(f"heldout-{k}-inquiry-body", mail, truth, "body")
    if kind == "recovery":
        w, extra = recovery(rng, company, date_text(day, rng))
    elif kind == "change":
        w, extra = change(rng, rng.choice(STYLES["change"]), company, date_text(day, rng))
    else:
        w, extra = unbind_cancel(kind, rng, rng.choice(STYLES[kind]), company, date_text(day, rng))
    truth.update(extra)
    truth["company_name"] = nfkc(company)
    truth["letter_date"] = day.isoformat()
    if form == "docx_table" and not w.table:
        form = "docx"
    seal = rng.random() < 0.7
    verb = {"change": "变更", "unbind": "解绑", "cancel": "注销", "recovery": "找回账号"}[kind]
    filename = rng.choice([f"{verb}申请", "盖章件", "扫描件001", company, "说明函"])
    attachments, text, html_text = deliver(
        f"heldout-{k}", w, form, filename=filename, seed=9_000_000 + k, seal=seal, rotate=rng.uniform(-1, 1)
    )
    if scan:
        truth["seal"] = "seal" if seal else "none"
    note = rng.choice(["您好，附件是盖章的申请材料，请查收。", "麻烦老师处理一下，谢谢。", ""])
    structure = rng.random()
    if form in ("body", "html"):
        pass
    elif structure < 0.12:
        # the letter in the quoted part of a reply, the attachment as well
        text = f"老师您好，以下是我们之前发的说明，麻烦尽快处理。\n\n-----原始邮件-----\n发件人：{company}\n\n{w.text()}"
    else:
        text = note
    if form in ("body", "html") and structure < 0.25:
        # pasted into a forwarded chain
        fwd = f"---------- 转发的邮件 ----------\n发件人：财务部\n主题：{w.title}\n\n"
        if form == "body":
            text = "请看下面转发的说明。\n\n" + fwd + text
    if kind in ("unbind", "cancel"):
        if rng.random() < 0.7:
            uscc = str(truth.get("uscc", [make_uscc(rng)])[0])
            attachments.append(("营业执照.pdf", text_pdf([licence_lines(company, uscc, rng)])))
            truth["uscc"] = sorted({*truth.get("uscc", []), uscc})
            truth["has_licence"] = True
        else:
            truth["has_licence"] = False
    subject = rng.choice([f"{company}-{verb}申请", "申请材料", f"回复：{verb}", "关于账号问题"])
    if scan and "镕" not in subject and rng.random() < 0.5:
        subject = f"{company}{verb}申请"
    mail = make_mail(subject=subject, text=text, html_text=html_text, attachments=attachments)
    return Case(f"heldout-{k}-{kind}-{form}", mail, truth, form, letter_text=w.text())
