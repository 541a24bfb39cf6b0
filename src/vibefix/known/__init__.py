"""What vibefix knows of the libraries it rewrites (FastAPI, Starlette, SQLAlchemy,
Pydantic, requests) and the blocking-call table: one copy of each fact, imported by the
engine and by every family. It imports nothing of vibefix but ``vibefix.cst``."""
