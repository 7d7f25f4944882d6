"""The queue: filters, counts, bulk actions, "next", claim, saved filters."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.auth.models import Role, User
from helpdesk.db import session
from helpdesk.params import parse_id
from helpdesk.tickets import forms, queries, search, services
from helpdesk.tickets.models import STATUS_LABELS, TYPE_LABELS, Ticket, TicketStatus
from helpdesk.tickets.views.common import (
    SLA_LABELS,
    back_to_ticket,
    bp,
    enterprise_names,
    flash_form_errors,
    is_local_path,
    page_clock,
    ticket_or_404,
)
from helpdesk.web import requires


def _company(ticket: Ticket, names: dict[int, str]) -> str:
    name = (ticket.fields or {}).get("company_name")
    if isinstance(name, list):
        name = name[0] if name else ""
    if name:
        return str(name)
    if ticket.enterprise_id and ticket.enterprise_id in names:
        return names[ticket.enterprise_id]
    return ticket.requester_name or ""


def _short(subject: str, limit: int = 100) -> str:
    return subject if len(subject) <= limit else subject[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ queue


def default_view(user: User) -> str:
    """Agents land on their own work (我的待办); supervisors and admins on the whole queue."""
    return "all" if user.has_role(Role.SUPERVISOR) else "mine"


@bp.get("/")
def queue() -> Any:
    query = queries.QueueQuery.from_args(request.args, default_view=default_view(current_user))
    for problem in query.problems:
        flash(problem, "warning")
    ck = page_clock()
    page = queries.queue_page(query, current_user, ck)
    users = queries.users_by_id()
    names = enterprise_names({t.enterprise_id for t in page.tickets if t.enterprise_id})
    words = search.words_of(query.q)
    docs = search.documents(t.id for t in page.tickets) if words else {}
    rows = []
    for t in page.tickets:
        state = ck.state(t)
        company = _company(t, names)
        rows.append(
            {
                "ticket": t,
                "state": state,
                "left": ck.minutes_left(t),
                "company": company,
                "assignee": users[t.assignee_id].name if t.assignee_id in users else "",
                # (text, is_hit) parts; the template escapes every part and marks the hits
                "subject_parts": search.marked(_short(t.subject), words),
                "company_parts": search.marked(company, words),
                "snippet": search.snippet(docs.get(t.id, ""), words) if words else [],
            }
        )
    # totals count open tickets only (cheap from the index); a text search or id list also counts all
    numbers = queries.queue_counts(query, current_user, ck)
    bulk = None
    if current_user.has_role(Role.SUPERVISOR):
        bulk = forms.BulkForm()
        bulk.assignee.choices = [("none", "（取消分配）")] + [
            (str(u.id), u.name) for u in sorted(users.values(), key=lambda u: u.name) if u.active
        ]
    return render_template(
        "tickets/queue.html",
        query=query,
        rows=rows,
        next_cursor=page.next_cursor,
        total=numbers["total"],
        open_total=numbers["open"],
        cap=queries.COUNT_CAP,
        total_cap=numbers["total_cap"],
        page_size=queries.PAGE_SIZE,
        counts=numbers["views"],
        views=queries.VIEWS,
        sla_states=queries.SLA_STATES,
        due_filters=queries.DUE_FILTERS,
        statuses=STATUS_LABELS,
        types=TYPE_LABELS,
        users=sorted(users.values(), key=lambda u: u.name),
        saved=queries.saved_filters(current_user),
        save_form=forms.SavedFilterForm(query=query.query_string(after="")),
        bulk=bulk,
        unread=numbers["unread"],
        sla_labels=SLA_LABELS,
        detail_prefix=url_for("tickets.detail", ticket_id=0)[:-1],
    )


@bp.post("/tickets/bulk")
@requires(Role.SUPERVISOR)
def bulk() -> Any:
    form = forms.BulkForm()
    back = form.back.data if is_local_path(form.back.data or "") else url_for("tickets.queue")
    form.assignee.choices = [("none", "")] + [(str(u.id), u.name) for u in queries.active_users()]
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(back)
    ids = [i for i in map(parse_id, request.form.getlist("ids")) if i is not None]
    try:
        if form.action.data == "assign":
            raw = form.assignee.data or "none"
            user_id = parse_id(raw)
            assignee = None if raw == "none" or user_id is None else session.get(User, user_id)
            if raw != "none" and assignee is None:
                raise services.TicketError("找不到这个处理人。")
            changed = services.bulk_assign(ids, assignee, by=current_user)
            flash(f"已分配 {changed} 张工单。", "success")
        else:
            changed = services.bulk_set_status(ids, TicketStatus(form.status.data), by=current_user)
            flash(f"已修改 {changed} 张工单的状态。", "success")
    except services.Conflict:
        flash("所选工单中有的刚被他人修改，本次批量操作没有执行。请刷新列表后重试。", "error")
    except services.TicketError as exc:
        flash(str(exc), "error")
    return redirect(back)


@bp.post("/tickets/next")
def next_ticket() -> Any:
    # an agent who still works on a ticket is asked first ("n" on any page posts here without confirm)
    held = queries.held_open(current_user)
    if held and request.form.get("confirm") != "1":
        return render_template("tickets/next_confirm.html", held=held)
    ticket = services.next_ticket(by=current_user)
    if ticket is None:
        types = "、".join(TYPE_LABELS[t] for t in services.handled_types(current_user))
        flash(f"暂无可领取的工单（您负责的类型：{types}）。", "info")
        return redirect(url_for("tickets.queue"))
    flash(f"已为您分配 {ticket.number}。", "success")
    return back_to_ticket(ticket)


@bp.post("/tickets/<int:ticket_id>/claim")
def claim(ticket_id: int) -> Any:
    ticket = ticket_or_404(ticket_id)
    if ticket.assignee_id == current_user.id:
        return back_to_ticket(ticket)
    if services.claim(ticket, by=current_user):
        flash(f"已领取 {ticket.number}。", "success")
    else:
        flash("这张工单刚被别人领取了。", "warning")
    return back_to_ticket(ticket)


@bp.post("/filters")
def save_filter() -> Any:
    form = forms.SavedFilterForm()
    if not form.validate_on_submit():
        flash_form_errors(form)
        return redirect(url_for("tickets.queue"))
    try:
        row = services.save_filter(current_user, form.name.data or "", form.query.data or "")
    except services.TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("tickets.queue"))
    flash(f"已保存筛选“{row.name}”。", "success")
    return redirect(url_for("tickets.queue") + ("?" + row.query if row.query else ""))


@bp.post("/filters/<int:filter_id>/delete")
def delete_filter(filter_id: int) -> Any:
    try:
        services.delete_filter(current_user, filter_id)
    except services.TicketError as exc:
        flash(str(exc), "error")
    else:
        flash("已删除筛选。", "success")
    return redirect(url_for("tickets.queue"))
