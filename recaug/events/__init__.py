"""User feedback events: validated at the gateway, logged durably, pushed online, ingested nightly.

    config.py      limits and policies (settings section `events`)
    schema.py      the event fields and the reader's column types
    validation.py  untrusted request bodies -> normalized records (or errors naming event, field, rule)
    catalogue.py   which users and items exist (the unknown-id policy)
    segments.py    the log's segment files: naming, sealing, orphans, torn tails
    log.py         EventLog (group-committed, fsynced appends) and read_events
    online.py      pushing events into the Feast online store (user history)
    intake.py      what POST /events does: validate, log, push
    export.py      sealed segments -> one landing batch, exactly once
    cli.py         `recaug events export`
"""
