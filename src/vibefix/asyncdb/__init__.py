"""The async-database family (VF203): whether the whole project can move from
``Session`` to ``AsyncSession``, and every query, load and call that the move rewrites."""
