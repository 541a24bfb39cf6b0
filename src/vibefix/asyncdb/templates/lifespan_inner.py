async with __INNER__(app):
    yield
