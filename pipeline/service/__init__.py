"""Local HTTP service: FastAPI app, worker pool, security checks, uvicorn server."""
