"""Admin pages: users and the mailboxes' status. Each write is one call to a service (auth.services,
mail.outbox.retry, tickets.intake.ingest_pending), which commits; the views never do."""
