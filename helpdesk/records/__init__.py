"""Records: enterprises, platform accounts, qualifications and project applications, as the platform
exports them and as resolutions change them. Never imports tickets.

Where each rule lives:
- `resolutions.py`: the preconditions and effects of change / unbind / cancel / recovery, with an
  audit entry per changed field (called inside tickets.resolve's unit of work).
- `settings.py`: the second-approval setting for cancels (a service: one unit of work, audited).
- `importer/`: the platform's exports in, by stage: `read` (bytes -> tables), `check` (every row,
  before any write), `write` (upsert by natural key); `import_tables` is one unit of work.
- `lookup.py`, `findings.py`, `panel.py`: finding the enterprise of a letter and checking the letter
  against its records (read only). `export.py`: the applied changes out, for the platform team.
- `views.py`: search, enterprise page, import, export, settings. The resolve, link and approval
  routes of a ticket are tickets' (tickets/views/resolution.py), under the same /records/ URLs.
"""
