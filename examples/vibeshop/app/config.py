import os

# Application settings
# All values can be overridden with environment variables


class Settings:
    PROJECT_NAME: str = "VibeShop API"
    VERSION: str = "1.0.0"

    # Database
    DATABASE_URL: str = os.getenv("DATABASE_URL", "sqlite:///./vibeshop.db")

    # External exchange-rate API (used to show prices in other currencies)
    RATES_API_URL: str = os.getenv("RATES_API_URL", "https://api.exchangerate-api.example.com")
    RATES_API_TIMEOUT: float = float(os.getenv("RATES_API_TIMEOUT", "5"))
    RATES_MAX_RETRIES: int = int(os.getenv("RATES_MAX_RETRIES", "3"))

    # Payment provider
    PAYMENT_API_URL: str = os.getenv("PAYMENT_API_URL", "https://payments.example.com")
    PAYMENT_API_KEY: str = os.getenv("PAYMENT_API_KEY", "sk_test_123456789")

    # Security
    SECRET_KEY: str = os.getenv("SECRET_KEY", "super-secret-key-change-me")  # TODO: change in production!

    # Business settings
    BASE_CURRENCY: str = "USD"
    TAX_RATE: float = 0.08


settings = Settings()

# Shortcuts so other modules can do `from app.config import DATABASE_URL`
DATABASE_URL = settings.DATABASE_URL
RATES_API_URL = settings.RATES_API_URL
RATES_API_TIMEOUT = settings.RATES_API_TIMEOUT
