"""The API-boundary family (VF300-VF304): Pydantic models, ORM columns and how route
handlers use them (``facts``), which models are bodies, responses or both (``plan``), and
edits to a model's fields that several codemods compose (``modeledit``)."""
