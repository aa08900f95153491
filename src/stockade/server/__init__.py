"""The control-plane server: FastAPI app, routes, auth, scheduler, webhooks."""
