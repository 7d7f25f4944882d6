"""Canned replies (macros): shared ones kept by supervisors, personal ones by each agent for themselves.

Everyone signed in sees the shared list and their own; nobody sees another user's personal replies
(another's id answers 404, a shared one an agent may not edit 403). The service checks the same rule.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import Length, Optional

from helpdesk.auth.models import Role
from helpdesk.db import session
from helpdesk.tickets import forms, macros, queries, services
from helpdesk.tickets.models import Macro
from helpdesk.tickets.views.common import bp, flash_form_errors
from helpdesk.web import requires


class PersonalMacroForm(forms.MacroForm):
    """A personal canned reply: its key may be left empty (one is made)."""

    key = StringField("标识（可不填）", validators=[Optional(), Length(max=80)])


def _visible_or_404(macro_id: int) -> Macro:
    macro = session.get(Macro, macro_id)
    if macro is None or (macro.owner_id is not None and macro.owner_id != current_user.id):
        abort(404)  # another user's personal reply: as if it did not exist
    return macro


# ------------------------------------------------------------------------------------ macros


@bp.get("/macros", endpoint="macros")  # the navigation (helpdesk.web.NAV) links to "tickets.macros"
@requires(Role.AGENT)
def macros_index() -> Any:
    rows = queries.macros(current_user)
    return render_template(
        "tickets/macros.html",
        shared=[m for m in rows if m.owner_id is None],
        personal=[m for m in rows if m.owner_id is not None],
        may_edit_shared=current_user.has_role(Role.SUPERVISOR),
        actions=macros.MACRO_ACTIONS,
        placeholders=macros.PLACEHOLDERS,
    )


@bp.route("/macros/new", methods=["GET", "POST"])
@bp.route("/macros/<int:macro_id>", methods=["GET", "POST"])
@requires(Role.AGENT)
def macro_edit(macro_id: int | None = None) -> Any:
    macro = _visible_or_404(macro_id) if macro_id is not None else None
    supervisor = current_user.has_role(Role.SUPERVISOR)
    # a new one is personal when asked for, and always for an agent
    personal = (
        macro.owner_id is not None if macro else (request.values.get("scope") == "personal" or not supervisor)
    )
    if not macros.may_edit(current_user.id if personal else None, current_user):
        abort(403)
    form = (PersonalMacroForm if personal else forms.MacroForm)(obj=macro)
    if form.validate_on_submit():
        try:
            saved = services.save_macro(
                macro,
                key=form.key.data or "",
                title=form.title.data or "",
                body=form.body.data or "",
                category=form.category.data or "",
                action=form.action.data or "",
                by=current_user,
                personal=personal,
            )
        except services.TicketError as exc:
            flash(str(exc), "error")
        else:
            flash(f"已保存{'个人' if personal else '共用'}回复模板“{saved.title}”。", "success")
            return redirect(url_for("tickets.macros"))
    elif request.method == "POST":
        flash_form_errors(form)
    return render_template(
        "tickets/macro_edit.html",
        form=form,
        macro=macro,
        personal=personal,
        placeholders=macros.PLACEHOLDERS,
    )


@bp.post("/macros/<int:macro_id>/delete")
@requires(Role.AGENT)
def macro_delete(macro_id: int) -> Any:
    macro = _visible_or_404(macro_id)
    if not macros.may_edit(macro.owner_id, current_user):
        abort(403)
    title = macro.title
    services.delete_macro(macro, by=current_user)
    flash(f"已删除回复模板“{title}”。", "success")
    return redirect(url_for("tickets.macros"))
