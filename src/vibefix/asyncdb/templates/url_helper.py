def __HELPER__(url: str | __URL__) -> __URL__:
    """`url` on its database's async driver (__CODE__): sqlite+aiosqlite,
    postgresql+asyncpg, mysql+aiomysql; a driver the URL names that is async
    already (asyncpg, psycopg 3, aiomysql, asyncmy) stays."""
    parsed = __MAKE_URL__(url)
    drivers = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}
    backend = parsed.get_backend_name()
    ready = {"aiosqlite", "asyncpg", "psycopg", "aiomysql", "asyncmy"}
    named = "+" in parsed.drivername
    if backend not in drivers or (named and parsed.get_driver_name() in ready):
        return parsed
    return parsed.set(drivername=f"{backend}+{drivers[backend]}")
