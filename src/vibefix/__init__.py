"""vibefix: codemods that clean up AI-written FastAPI services."""

__version__ = "0.1.0.dev0"
