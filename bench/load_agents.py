"""The agents of bench/load.py, as a Locust user class (run by load.py in its own process).

Each simulated agent logs in once, then works as agents do at the desk: the queue, a ticket, a
search, a note, a reply, the next ticket. The sample tickets and words come from the JSON file in
LOAD_SAMPLES (written by load.py after populating the database); the agent's login from a counter.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
from typing import Any

from locust import FastHttpUser, between, task

with open(os.environ["LOAD_SAMPLES"], encoding="utf-8") as _file:
    SAMPLES: dict[str, Any] = json.load(_file)
PASSWORD = SAMPLES["password"]
_logins = itertools.count()
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_VERSION = re.compile(r'name="version"[^>]*value="(\d+)"')


class Agent(FastHttpUser):
    # an agent reads before the next click: ~0.1-0.3 s between requests keeps 50 agents near the
    # rate a real desk's season would reach many times over
    wait_time = between(0.05, 0.25)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.username = SAMPLES["agents"][next(_logins) % len(SAMPLES["agents"])]
        page = self.client.get("/login", name="login").text
        token = _CSRF.search(page).group(1)
        with self.client.post(
            "/login",
            data={"username": self.username, "password": PASSWORD, "csrf_token": token},
            name="login",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
                response.failure(f"login refused ({response.status_code})")
        self.form: tuple[int, str, str] | None = None  # (ticket, csrf token, version) of the last ticket page

    def _post(self, path: str, data: dict[str, str], name: str) -> None:
        with self.client.post(path, data=data, name=name, allow_redirects=False, catch_response=True) as r:
            # a form post answers with a redirect back to the page; 409 is the version conflict
            # of two agents replying to one ticket at once: the page tells the agent, by design
            if r.status_code == 409:
                r.success()
            elif r.status_code != 302 or "/login" in r.headers.get("Location", ""):
                r.failure(f"{name}: {r.status_code}")

    @task(4)
    def queue(self) -> None:
        self.client.get(self.rng.choice(("/", "/", "/?view=unassigned", "/?view=all")), name="queue")

    @task(4)
    def ticket(self) -> None:
        ticket_id = int(self.rng.choice(SAMPLES["open_ids"]))
        page = self.client.get(f"/tickets/{ticket_id}", name="ticket").text
        csrf, version = _CSRF.search(page or ""), _VERSION.search(page or "")
        self.form = (ticket_id, csrf.group(1), version.group(1)) if csrf and version else None

    @task(2)
    def search(self) -> None:
        self.client.get(f"/?q={self.rng.choice(SAMPLES['words'])}", name="search")

    @task(1)
    def note(self) -> None:
        if self.form is None:
            return self.ticket()
        ticket_id, csrf, version = self.form
        body = f"已电话联系企业（{self.username}）。"
        self._post(
            f"/tickets/{ticket_id}/note", {"csrf_token": csrf, "version": version, "body": body}, "note"
        )

    @task(1)
    def reply(self) -> None:
        if self.form is None:
            return self.ticket()
        ticket_id, csrf, version = self.form
        body = "您好，您的来信已收到，我们将在两个工作日内办理。"
        self._post(
            f"/tickets/{ticket_id}/reply", {"csrf_token": csrf, "version": version, "body": body}, "reply"
        )
        self.form = None  # the version moved on

    @task(1)
    def next_ticket(self) -> None:
        if self.form is None:
            return self.ticket()
        self._post("/tickets/next", {"csrf_token": self.form[1], "confirm": "1"}, "next ticket")
