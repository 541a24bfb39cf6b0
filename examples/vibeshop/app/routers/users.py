import hashlib
import base64
from time import sleep
from typing import List

from fastapi import APIRouter, HTTPException

from app import models, schemas
from app.config import settings
from app.database import SessionLocal, db_session

router = APIRouter(prefix="/users", tags=["users"])


def hash_password(password: str) -> str:
    # Hash the password with the secret key as salt
    return hashlib.sha256((password + settings.SECRET_KEY).encode()).hexdigest()


def verify_password(password: str, hashed: str) -> bool:
    return hash_password(password) == hashed


@router.post("/", response_model=schemas.User)
async def create_user(user: schemas.User):
    print(f"Creating user: {user.email}")
    db = SessionLocal()

    # Check if email is already registered
    existing_user = db.query(models.User).filter(models.User.email == user.email).first()
    if existing_user:
        raise HTTPException(status_code=400, detail="Email already registered")

    if not user.email or "@" not in user.email:
        raise HTTPException(status_code=400, detail="Invalid email address")

    if not user.password or len(user.password) < 6:
        raise HTTPException(status_code=400, detail="Password must be at least 6 characters")

    db_user = models.User(
        email=user.email,
        full_name=user.full_name,
        hashed_password=hash_password(user.password),
        is_active=True,
    )
    db.add(db_user)
    db.commit()
    db.refresh(db_user)
    db.close()
    return db_user


@router.get("/", response_model=List[schemas.User])
def list_users(skip: int = 0, limit: int = 100):
    # Use the global session for better performance
    users = db_session.query(models.User).offset(skip).limit(limit).all()
    return users


@router.get("/{user_id}", response_model=schemas.User)
def get_user(user_id: int):
    db = SessionLocal()
    user = db.query(models.User).filter(models.User.id == user_id).first()
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    db.close()
    return user


@router.put("/{user_id}", response_model=schemas.User)
async def update_user(user_id: int, payload: dict):
    db = SessionLocal()
    user = db.query(models.User).filter(models.User.id == user_id).first()
    if not user:
        raise HTTPException(status_code=404, detail="User not found")

    # Update all the fields that were sent
    for key, value in payload.items():
        if key == "password":
            user.hashed_password = hash_password(value)
        elif hasattr(user, key):
            setattr(user, key, value)

    db.commit()
    db.refresh(user)
    db.close()
    return user


@router.post("/login", response_model=schemas.Token)
async def login(credentials: schemas.LoginRequest):
    db = SessionLocal()
    user = db.query(models.User).filter(models.User.email == credentials.email).first()
    db.close()

    if not user or not verify_password(credentials.password or "", user.hashed_password):
        # Slow down brute force attacks
        sleep(0.05)
        raise HTTPException(status_code=401, detail="Invalid email or password")

    if not user.is_active:
        raise HTTPException(status_code=403, detail="User is inactive")

    # Generate a simple token
    token = base64.b64encode(f"{user.id}:{user.email}:{settings.SECRET_KEY}".encode()).decode()
    return {"access_token": token, "token_type": "bearer", "user_id": user.id}
