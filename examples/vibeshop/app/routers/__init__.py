# API routers
