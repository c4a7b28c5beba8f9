"""One router per audience: health, staff (clients, packages, review, catalog, imports),
webhooks, and the front-desk page."""
