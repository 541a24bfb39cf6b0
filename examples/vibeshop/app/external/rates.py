"""
Client for the external exchange-rate API.

The API returns JSON like:
    {"base": "USD", "date": "2024-05-01", "rates": {"EUR": 0.93, "GBP": 0.80}}
"""
import time

import requests

from app.config import RATES_API_TIMEOUT, RATES_API_URL, settings

# Simple in-memory cache so we don't hit the API too often
_rates_cache = {}


def get_exchange_rate(currency: str, base: str = "USD") -> float:
    """Get the exchange rate from base to currency, with retries."""
    currency = currency.upper()
    if currency == base:
        return 1.0

    url = f"{RATES_API_URL}/latest"
    last_error = None

    for attempt in range(settings.RATES_MAX_RETRIES):
        try:
            response = requests.get(
                url, params={"base": base, "symbols": currency}, timeout=RATES_API_TIMEOUT
            )
            if response.status_code == 200:
                data = response.json()
                rate = data["rates"][currency]
                _rates_cache[(base, currency)] = rate
                return rate
            elif response.status_code in (400, 404):
                # Currency not supported, no point in retrying
                raise ValueError(f"Unsupported currency: {currency}")
            else:
                print(f"Rates API returned {response.status_code}, retrying... (attempt {attempt + 1})")
                last_error = Exception(f"Rates API error: {response.status_code}")
        except ValueError:
            raise
        except Exception as e:
            print(f"Error fetching exchange rate: {e}")
            last_error = e

        # Wait a bit before retrying (exponential backoff)
        time.sleep(0.01 * (attempt + 1))

    # Fall back to the cached value if we have one
    if (base, currency) in _rates_cache:
        print("Using cached exchange rate")
        return _rates_cache[(base, currency)]

    raise Exception(f"Could not get exchange rate for {currency}: {last_error}")


async def get_exchange_rate_async(currency: str, base: str = "USD") -> float:
    """Async version of get_exchange_rate for use in async endpoints."""
    currency = currency.upper()
    if currency == base:
        return 1.0

    url = f"{RATES_API_URL}/latest"

    for attempt in range(settings.RATES_MAX_RETRIES):
        try:
            response = requests.get(
                url, params={"base": base, "symbols": currency}, timeout=RATES_API_TIMEOUT
            )
            if response.status_code == 200:
                rate = response.json()["rates"][currency]
                _rates_cache[(base, currency)] = rate
                return rate
            elif response.status_code in (400, 404):
                raise ValueError(f"Unsupported currency: {currency}")
            print(f"Rates API returned {response.status_code}, retrying...")
        except ValueError:
            raise
        except Exception as e:
            print(f"Error fetching exchange rate: {e}")

        time.sleep(0.02)

    if (base, currency) in _rates_cache:
        return _rates_cache[(base, currency)]

    raise Exception(f"Could not get exchange rate for {currency}")


def convert_price(amount: float, currency: str) -> float:
    """Convert a USD amount to the given currency."""
    rate = get_exchange_rate(currency)
    return round(amount * rate, 2)
