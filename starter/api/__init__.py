"""The HTTP service: staff API, provider webhooks, health, and the front-desk page."""
