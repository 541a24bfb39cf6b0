from fastapi import FastAPI

from app.config import settings
from app.database import Base, engine
from app.routers import orders, products, users

# Create the database tables
Base.metadata.create_all(bind=engine)

app = FastAPI(
    title=settings.PROJECT_NAME,
    version=settings.VERSION,
    description="A simple online shop API built with FastAPI",
)

# Include all the routers
app.include_router(users.router)
app.include_router(products.router)
app.include_router(orders.router)


@app.get("/")
async def root():
    return {"message": "Welcome to VibeShop API!"}


@app.get("/health")
async def health_check():
    return {"status": "healthy", "version": settings.VERSION}
