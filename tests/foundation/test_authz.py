"""Authorization matrix: every route x every role (and anonymous) gets the expected answer."""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter

from helpdesk.auth.models import Role
from tests.conftest import login

#: the lowest role each blueprint may ever require; an endpoint declaring less is a security bug
BLUEPRINT_MINIMUM = {
    "admin": Role.ADMIN,
    "settings": Role.SUPERVISOR,
    "dashboard": Role.SUPERVISOR,
    "sla": Role.SUPERVISOR,
    "records": Role.AGENT,
    "tickets": Role.AGENT,
    "auth": Role.AGENT,
}
PUBLIC = {"static", "auth.login", "favicon", "ops.healthz", "ops.readyz", "ops.metrics"}
ROLES = {"agent": Role.AGENT, "supervisor": Role.SUPERVISOR, "admin": Role.ADMIN}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every route, with 999999 for ids and "x" for other arguments."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC or rule.endpoint.startswith("api."):
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        values = {
            arg: 999999 if isinstance(rule._converters[arg], IntegerConverter) else "x"
            for arg in rule.arguments
        }
        with app.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **values)
        found.append((rule.endpoint, method, url))
    return sorted(found)


def declared_role(app: Flask, endpoint: str) -> Role:
    return getattr(app.view_functions[endpoint], "required_role", Role.AGENT)


@pytest.mark.sqlite_only
def test_every_endpoint_declares_at_least_its_blueprint_minimum(app):
    for endpoint, _method, _url in routes(app):
        blueprint = endpoint.partition(".")[0]
        assert blueprint in BLUEPRINT_MINIMUM, f"new blueprint {blueprint}: add its minimum role to this test"
        assert declared_role(app, endpoint).rank >= BLUEPRINT_MINIMUM[blueprint].rank, endpoint


@pytest.mark.sqlite_only
def test_authorization_matrix(app, users):
    app.config["WTF_CSRF_ENABLED"] = False  # this test is about roles; CSRF has its own tests
    table = routes(app)
    assert len(table) > 5
    anonymous = app.test_client()
    clients = {}
    for name in ROLES:
        clients[name] = app.test_client()
        login(clients[name], {"agent": "agent1", "supervisor": "super1", "admin": "admin1"}[name])
    problems = []
    for endpoint, method, url in table:
        response = anonymous.open(url, method=method)
        if not (response.status_code == 302 and "/login" in response.headers.get("Location", "")):
            problems.append(f"anonymous {method} {url} -> {response.status_code}")
        if (
            endpoint == "auth.logout"
        ):  # would end the session the rest of the matrix uses (tested in test_auth)
            continue
        need = declared_role(app, endpoint)
        for name, role in ROLES.items():
            response = clients[name].open(url, method=method)
            allowed = role.rank >= need.rank
            code = response.status_code
            if code == 500:
                problems.append(f"{name} {method} {url} -> 500")
            elif allowed and (code == 403 or "/login" in response.headers.get("Location", "")):
                problems.append(f"{name} {method} {url} -> {code}, expected access")
            elif not allowed and code != 403:
                problems.append(f"{name} {method} {url} -> {code}, expected 403")
    assert problems == []
