# External service clients (exchange rates, etc.)
