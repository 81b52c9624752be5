"""Fast tests: no network, no moto."""
