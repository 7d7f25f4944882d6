"""Tickets: one per request, from the mail that opened it to its resolution.

Where each rule lives:
- `lifecycle.py`: the steps (record an event, change the status and with it the SLA clock, queue a
  reply); public, and never commit. Everything that changes a ticket is made of these.
- `services.py`: what agents and supervisors do (assign, claim, next, reply, note, status, fields,
  type, reject, merge, bulk, presence, saved filters, macros); each public function is one
  `unit_of_work()`. `resolve.py`: resolving against the records, and the approvals of cancels, the
  same way.
- `intake.py`, `poll.py`: stored mail -> letter -> ticket (their claim / ingest steps commit apart on
  purpose: see intake's docstring).
- `views/`: the web pages, one module per page group (queue, detail, actions, resolution,
  attachments, notifications, macros); `api.py`: the JSON API. Views parse, call one service and
  redirect; they never commit or roll back (tests/foundation/test_one_home.py checks it).
- `models.py`: the tables. Types, statuses, their groups and labels are helpdesk.vocabulary's.
"""
