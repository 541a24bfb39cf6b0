@__CONTEXTLIB__.asynccontextmanager
async def __LIFESPAN__(app: __FASTAPI__) -> __ASYNC_ITERATOR__[None]:
    """The tables, created at startup (__CODE__: `create_all` ran at import)."""
    async with __ENGINE__.begin() as connection:
        await connection.run_sync(__CREATE_ALL__)
    __SERVE__
