"""Who may do what with a shared `rag serve`, and what was changed by whom.

One concept a module: `keys` (keys and roles), `audit` (the trail of every add, update and removal), `limits`
(requests a minute and questions in flight per key), `queue` (one fair queue for the model, cancellable, with
places), `exposure` (may this address be served without keys), `guard` (the above composed for one process),
`http` (the FastAPI and ASGI side) and `storage` (where keys and the audit live: beside the index, or in PostgreSQL).

Layering: this package sits on the backends (it reads where the store lives); ingest imports `audit`; the shells
(server, CLI, page) import the rest.
"""
