"""Canned replies (macros) written from the enterprise FAQ, and their placeholders.

A macro body may use {company}, {account}, {number} and {due}; `render` fills them from the ticket.
Other braces are left as they are, so a supervisor can write any text. The seed adds the macros
below at `helpdesk init-db` when their key is missing; edits made in the UI are never overwritten.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from helpdesk.db import session, unit_of_work

SIGNATURE = "外贸发展专项资金（中小）网络管理应用项目组"
#: what sending a macro does besides the reply (the key is Macro.action)
MACRO_ACTIONS = {"": "仅回复", "request_material": "回复并等待企业补充（暂停计时）"}
MAILBOX = "zxzj@ec.com.cn"
CONTACTS = (
    "统一平台用户注册/登录客服电话：\n"
    "  010-67870108（负责处理统一平台账号密码找回、用户不存在等咨询）\n"
    "  010-67800259（负责解答企业用户账号密码找回方法等咨询）\n"
    "技术咨询客服电话：\n"
    "  400 886 3200（负责各类用户进入应用后的技术咨询）\n"
    "  010-67800213（负责各类用户进入应用后的技术咨询，以及企业用户变更说明情况处理）\n"
    "  010-67801941（负责用户变更说明情况处理）\n"
    f"邮箱地址：{MAILBOX}"
)
PLACEHOLDERS = {
    "company": "公司名称（信中或档案中的企业名称）",
    "account": "账号（信中申请办理的账号）",
    "number": "工单号，如 ZXZJ#12",
    "due": "办理期限（截止时间）",
}

_GREETING = "{company}：\n\n您好！"
_CLOSING = "\n\n如有疑问，请直接回复本邮件（请保留邮件标题中的工单号 {number}）。\n\n" + SIGNATURE

#: (key, category, title, action, body)
SEED_MACROS: tuple[tuple[str, str, str, str, str], ...] = (
    # --- asking for material: the ticket waits on the enterprise (SLA paused)
    (
        "request_licence",
        "补充材料",
        "请补充营业执照加盖公章扫描件",
        "request_material",
        _GREETING + "我们已收到您的申请（工单 {number}）。按照要求，办理解绑或注销需同时提供"
        "营业执照加盖公章扫描件和加盖公章的说明，您的邮件中未见营业执照扫描件。\n\n"
        "请将营业执照加盖公章后扫描（或拍照，确保清晰完整），直接回复本邮件发送给我们。"
        "收到材料后，我们将在 2 个工作日内处理。" + _CLOSING,
    ),
    (
        "request_stamped_letter",
        "补充材料",
        "请提供加盖公章的说明函",
        "request_material",
        _GREETING + "我们已收到您的申请（工单 {number}）。按照要求，请提供加盖公司公章的说明函"
        "（《变更说明》《解绑说明》或《注销说明》，模板见《企业用户常见问题》文档第三、四、五部分），"
        "仅有邮件正文或未盖章的文件无法办理。\n\n"
        "请按模板填写完整（公司名称、账号信息、事由、具体事项、日期），加盖公章后扫描，直接回复本邮件发送给我们。"
        "收到材料后，我们将在 2 个工作日内处理。" + _CLOSING,
    ),
    (
        "request_letter_fix",
        "补充材料",
        "说明函内容不完整或有误，请更正",
        "request_material",
        _GREETING
        + "我们已收到您的申请（工单 {number}），经核对，说明函中以下内容不完整或与系统记录不一致：\n\n"
        "  （请在此写明需要更正的内容，例如统一社会信用代码校验不通过、账号 {account} 不属于贵公司等）\n\n"
        "请核对后按模板重新填写，加盖公章后扫描，直接回复本邮件发送给我们。收到材料后，我们将在 2 个工作日内处理。"
        + _CLOSING,
    ),
    (
        "only_one_account",
        "补充材料",
        "仅有一个账号，无法解绑或注销",
        "",
        _GREETING
        + "我们已收到您的申请（工单 {number}）。根据系统记录，贵公司在商务部业务系统统一平台只有一个账号。"
        "解绑和注销只适用于企业有多个统一平台账号的情况：外贸发展专项资金（中小）网络管理应用只能绑定其中一个账号，"
        "其余账号可以申请解绑或注销。\n\n如您确有其他账号，请在说明中列出全部账号信息后重新发送。" + _CLOSING,
    ),
    # --- account recovery
    (
        "recovery_instructions",
        "找回账号",
        "找回账号或密码的方法",
        "",
        _GREETING + "关于找回账号或密码：\n\n"
        "情况一：有账号但忘记密码。请在登录页点击“忘记密码”进入账号信息管理页面，选择第 4 项"
        "“外贸发展专项资金（中小）网络管理应用找回用户信息请点击‘这里！’”，按提示提供证明材料找回。"
        "也可点击“找回账号”功能，“常办理业务”选择“外贸发展专项资金（中小）网络管理应用”，填写相关信息进行账号/密码找回，"
        "客服人员将在收到您的申请资料后两个工作日内处理。\n\n"
        "情况二：忘记登录账号和密码，且没有邮箱、手机号、企业信息（统一社会信用代码、组织机构代码）等相关内容，"
        "可拨打客服电话 010-67870108 咨询。\n\n"
        "以上两种情况，均可联系商务主管机关（联系方式：http://zxkt.mofcom.gov.cn/news/contact.jsp），"
        "由其在应用中通过“终端用户管理”查询账号或重置密码。\n\n"
        "注意：通过商务主管机关后台找回的登录账号需在账号信息前添加“zxkt_”，即“zxkt_账号代码”。" + _CLOSING,
    ),
    # --- resolution notices, one per type
    (
        "resolved_change",
        "办结通知",
        "变更已办理",
        "",
        _GREETING + "您提交的《变更说明》（工单 {number}）已办理完毕，企业资质信息已按说明修改。\n\n"
        "按照规定，修改资质信息后，企业资质状态变为“未审核”，需由所在地商务主管机关重新进行资质审核；"
        "审核结果显示“已公示”后，方可在“申报管理”模块进行项目申报。请及时联系商务主管机关办理审核。\n\n"
        "建议在申请项目前完成资质信息修改。" + _CLOSING,
    ),
    (
        "resolved_unbind",
        "办结通知",
        "解绑已办理",
        "",
        _GREETING
        + "您提交的《解绑说明》（工单 {number}）已办理完毕，账号 {account} 已解除与外贸发展专项资金（中小）"
        "网络管理应用的绑定。\n\n如需用另一个账号使用本应用，请登录该账号进入应用大厅首页，点击左侧“增加应用”，"
        "选择“综合业务”里的“外贸发展专项资金（中小）网络管理应用”，操作“申请”。\n\n"
        "请注意：企业可以有多个统一平台账号，但本应用可进入的账号只有 1 个，请使用正确的账号登录应用。"
        + _CLOSING,
    ),
    (
        "resolved_cancel",
        "办结通知",
        "注销已办理",
        "",
        _GREETING
        + "您提交的《注销说明》（工单 {number}）已办理完毕，账号 {account} 已注销，今后无法再用该账号登录。\n\n"
        "请使用贵公司保留的账号登录外贸发展专项资金（中小）网络管理应用。" + _CLOSING,
    ),
    (
        "resolved_recovery",
        "办结通知",
        "账号已找回",
        "",
        _GREETING
        + "您的找回账号申请（工单 {number}）已办理。贵公司在外贸发展专项资金（中小）网络管理应用的登录账号为：\n\n"
        "  {account}\n\n"
        "请注意：通过商务主管机关后台找回的登录账号需在账号信息前添加“zxkt_”，即“zxkt_账号代码”。"
        "出于安全考虑，我们不会通过邮件发送密码；如忘记密码，请在登录页点击“忘记密码”按提示重置。" + _CLOSING,
    ),
    (
        "rejected_generic",
        "办结通知",
        "无法办理（说明原因）",
        "",
        _GREETING + "您的申请（工单 {number}）暂时无法办理，原因如下：\n\n  （请在此写明原因）\n\n"
        "请按要求补正后回复本邮件，我们会在收到后 2 个工作日内处理。" + _CLOSING,
    ),
    (
        "in_progress",
        "进度",
        "正在办理，预计完成时间",
        "",
        _GREETING + "您的申请（工单 {number}）正在办理中，预计于 {due} 前办结，请耐心等待。" + _CLOSING,
    ),
    # --- contacts and the FAQ's common questions
    (
        "contacts",
        "常见问题",
        "客服联系方式",
        "",
        _GREETING + "各客服热线分工如下，请按问题类型联系：\n\n" + CONTACTS + _CLOSING,
    ),
    (
        "faq_browsers",
        "常见问题",
        "推荐哪些浏览器版本",
        "",
        _GREETING + "推荐使用 360（极速模式）、搜狗（高速模式）、IE（IE9 及以上版本）、谷歌浏览器访问应用。"
        "登录 IE 兼容设置可参考 https://ecomp.mofcom.gov.cn/pages/login/ie1.html 相关资料。" + _CLOSING,
    ),
    (
        "faq_register",
        "常见问题",
        "新用户如何注册",
        "",
        _GREETING + "新用户注册步骤如下：\n\n"
        "1. 在浏览器中输入门户网站网址 http://zxkt.mofcom.gov.cn，点击“在线注册”，按提示进行商务部业务系统统一平台用户注册，"
        "如实填写账号信息、用户信息和个人信息。\n"
        "2. 注册成功后进入应用大厅首页，点击左侧“增加应用”，选择“综合业务”里的“外贸发展专项资金（中小）网络管理应用”，操作“申请”。\n"
        "3. 通过个人业务大厅首页应用名称后方的“进入应用”按钮进入应用，通读“声明”后点击“同意”，完善企业资质信息。\n"
        "4. 填写完成后点击“注册会员”，再点击“进入应用”，选择对应资金年度，并如实填报企业规模人数。\n\n"
        "会员信息须经商务主管机关审核通过（显示“已公示”）后，方可在“申报管理”模块进行项目申报。" + _CLOSING,
    ),
    (
        "faq_login",
        "常见问题",
        "已有账号如何登录",
        "",
        _GREETING + "已注册的用户可通过门户网站“在线申报”按钮进入登录“通知”页面，阅读通知后点击“这里”，"
        "自动转至统一平台企业端登录页面，输入用户名、密码和验证码登录。登录后在个人业务大厅点击本应用后方的“进入应用”。\n\n"
        "注意：通过商务主管机关后台找回的登录账号需在账号信息前添加“zxkt_”，即“zxkt_账号代码”。" + _CLOSING,
    ),
    (
        "faq_review_status",
        "常见问题",
        "资质“未审核”“未公示”是什么意思",
        "",
        _GREETING + "资质显示“未审核”或“未公示”，通常有两种情况：\n\n"
        "情况一：刚注册完企业资质，所在地的商务主管机关还未进行资质审核。\n"
        "情况二：变更了企业资质信息，商务主管机关将资质信息变为“未审核”状态，待修改完成后由主管机关重新审核。\n\n"
        "审核结果显示“已公示”后，方可在“申报管理”模块进行项目申报。如显示“未公示”“未审核”，请联系商务主管机关进行资质审核"
        "（联系方式可在门户网站首页右侧“商务主管机关联系方式”或应用内左侧“管理部门电话”查询）。" + _CLOSING,
    ),
    (
        "faq_modify_qualification",
        "常见问题",
        "企业资质如何修改",
        "",
        _GREETING + "企业资质修改分以下几种情况：\n\n"
        "1. 资质未公示：可点击资质页面下方【修改】按钮自助修改。\n"
        "2. 资质已公示：需先联系所属商务主管机关申请开通修改权限，主管机关在“终端用户管理”中选择“允许修改资料”后即可修改。\n"
        "3. 企业名称、行政区划无法修改：是因为在申报管理中用错误的信息进行了项目申请，需先删除以错误名称或行政区划申请的申请表，"
        "再修改资质（请在申报期内操作，可致电技术客服 400 886 3200）。\n"
        "4. 统一社会信用代码为空需要填补：可通过“资质管理”模块“代码修改申请”提交，由管理机关审核。\n"
        f"5. 统一社会信用代码、组织机构代码错误需修改：请填写《变更说明》并加盖公章，将电子版发送至 {MAILBOX}，"
        "工作人员收到邮件后 2 个工作日内处理。\n\n建议企业在申请项目前完成资质信息修改。" + _CLOSING,
    ),
    (
        "faq_print_forms",
        "常见问题",
        "申请表在哪里打印",
        "",
        _GREETING + "企业登记表、资金计划申请表、资金拨付申请表的打印方法：在应用左侧菜单中选择“输出申请表”，"
        "再点击企业登记表、资金计划申请表或资金拨付申请表，进入相关页面后即可打印。" + _CLOSING,
    ),
    (
        "faq_authority_contact",
        "常见问题",
        "如何查询商务主管机关联系方式",
        "",
        _GREETING
        + "方法一：在外贸发展专项资金（中小）网络管理应用网站首页右侧，点击“商务主管机关联系方式”查询。\n"
        "方法二：进入应用后，在用户界面首页左侧点击“管理部门电话”查询。\n"
        "也可访问 http://zxkt.mofcom.gov.cn/news/contact.jsp 。" + _CLOSING,
    ),
    (
        "faq_registration_error",
        "常见问题",
        "提交资质时提示“注册过程中出现异常”",
        "",
        _GREETING
        + "提交资质信息时出现“注册过程中出现异常，请联系管理员”，请将注册填写页面中行业划分、主营业务和商品"
        "选择方框里选择的“全部”删除，再重新提交即可。" + _CLOSING,
    ),
    (
        "faq_user_missing",
        "常见问题",
        "提示“用户信息不存在”或“用户信息已经存在”",
        "",
        _GREETING
        + "如新用户注册时提示“用户信息不存在，请联系客服 010-67870108 进行处理”，请直接联系客服 010-67870108 "
        "进行应用解绑操作；解绑后进入应用大厅首页，点击左侧“增加应用”，选择“综合业务”里的本应用，重新操作“申请”。\n\n"
        "如提示“用户信息已经存在，请使用组织机构代码进行用户账号找回”，请点击提示中的“这里”，按提示进行用户账号线上找回。"
        "企业可以有多个统一平台账号，但本应用可进入的账号只有 1 个，请使用正确的账号登录应用。" + _CLOSING,
    ),
    (
        "faq_save_no_response",
        "常见问题",
        "申报时点击保存/提交没有反应",
        "",
        _GREETING + "填报项目表格时，系统会自动审核录入格式是否符合要求，如有红色提示，需要按照页面规则修改。"
        "同时建议填报时及时保存，以免页面停留时间过长出现无法保存的情况。" + _CLOSING,
    ),
    (
        "faq_wrong_application",
        "常见问题",
        "申报信息填写错误怎么办",
        "",
        _GREETING
        + "在申报期内，如项目信息填写有误，请及时联系商务主管机关说明情况：如果商务主管机关“未受理”该项目，"
        "企业可以自行修改；如已经受理并审核，建议商务主管机关审核“不同意”，然后企业重新申报，"
        "注意项目名称需要重新调整，不能与原申请名称相同。" + _CLOSING,
    ),
    (
        "faq_disbursement",
        "常见问题",
        "如何进行资金拨付申报",
        "",
        _GREETING
        + "有项目计划申报的企业进行资金拨付申报，请进入“申报管理”选择“项目申报”，在“操作”栏点击“资金拨付”申报即可。"
        + _CLOSING,
    ),
    (
        "faq_unbind_cancel_how",
        "常见问题",
        "如何申请解绑或注销",
        "",
        _GREETING + "如贵公司有多个商务部业务系统统一平台账号：\n\n"
        f"申请解绑：请提供营业执照加盖公章扫描件和加盖公章的《解绑说明》，发到邮箱 {MAILBOX}。\n"
        f"申请注销：请提供营业执照加盖公章扫描件和加盖公章的《注销说明》，发到邮箱 {MAILBOX}。\n\n"
        "说明模板见《企业用户常见问题》文档第四、五部分。工作人员收到邮件后 2 个工作日内处理。" + _CLOSING,
    ),
)

_PLACEHOLDER = re.compile(r"\{(company|account|number|due)\}")


def placeholder_values(ticket: Any, *, tz: ZoneInfo, enterprise_name: str | None = None) -> dict[str, str]:
    """The values of the four placeholders for this ticket."""
    fields = ticket.fields or {}
    company = _first(fields.get("company_name")) or enterprise_name or "贵公司"
    account = _first(fields.get("target_accounts")) or _first(fields.get("account_names")) or "【请填写账号】"
    if ticket.due_at is not None:
        due = f"{ticket.due_at.astimezone(tz):%Y年%m月%d日 %H:%M}"
    elif ticket.status == "waiting":  # the clock is paused
        due = "收到补充材料后 2 个工作日内"
    else:
        due = "2 个工作日内"
    return {"company": company, "account": account, "number": ticket.number, "due": due}


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value).strip() if value not in (None, "") else ""


def render(body: str, values: dict[str, str]) -> str:
    """Fill {company} {account} {number} {due}; any other text (other braces too) stays as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), body)


def may_edit(owner_id: int | None, user: Any) -> bool:
    """Shared canned replies (no owner) are edited by supervisors; a personal one by its owner only."""
    from helpdesk.auth.models import Role

    if owner_id is None:
        return bool(user.has_role(Role.SUPERVISOR))
    return bool(owner_id == user.id)


def personal_key(user_id: int) -> str:
    """A unique key for a personal canned reply whose owner gave none."""
    import uuid

    return f"my-{user_id}-{uuid.uuid4().hex[:10]}"


def seed_macros() -> str:
    """Add the FAQ macros whose key is missing (edited macros are kept). Commits; returns a note or ""."""
    from helpdesk.tickets.models import Macro

    with unit_of_work():
        existing = set(session.scalars(select(Macro.key)))
        added = 0
        for key, category, title, action, body in SEED_MACROS:
            if key in existing:
                continue
            session.add(Macro(key=key, category=category, title=title, action=action, body=body))
            added += 1
    return f"回复模板：新增 {added} 条" if added else ""
