"""Canned replies (macros): list, edit, delete (supervisors)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from helpdesk.auth.models import Role
from helpdesk.db import session
from helpdesk.tickets import forms, macros, queries, services
from helpdesk.tickets.models import Macro
from helpdesk.tickets.views.common import bp, flash_form_errors
from helpdesk.web import requires

# ------------------------------------------------------------------------------------ macros


@bp.get("/macros", endpoint="macros")  # the navigation (helpdesk.web.NAV) links to "tickets.macros"
@requires(Role.SUPERVISOR)
def macros_index() -> Any:
    return render_template(
        "tickets/macros.html",
        macros=queries.macros(),
        actions=macros.MACRO_ACTIONS,
        placeholders=macros.PLACEHOLDERS,
    )


@bp.route("/macros/new", methods=["GET", "POST"])
@bp.route("/macros/<int:macro_id>", methods=["GET", "POST"])
@requires(Role.SUPERVISOR)
def macro_edit(macro_id: int | None = None) -> Any:
    macro = (session.get(Macro, macro_id) or abort(404)) if macro_id is not None else None
    form = forms.MacroForm(obj=macro)
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
            )
        except services.TicketError as exc:
            flash(str(exc), "error")
        else:
            flash(f"已保存回复模板“{saved.title}”。", "success")
            return redirect(url_for("tickets.macros"))
    elif request.method == "POST":
        flash_form_errors(form)
    return render_template(
        "tickets/macro_edit.html", form=form, macro=macro, placeholders=macros.PLACEHOLDERS
    )


@bp.post("/macros/<int:macro_id>/delete")
@requires(Role.SUPERVISOR)
def macro_delete(macro_id: int) -> Any:
    macro = session.get(Macro, macro_id) or abort(404)
    title = macro.title
    services.delete_macro(macro, by=current_user)
    flash(f"已删除回复模板“{title}”。", "success")
    return redirect(url_for("tickets.macros"))
