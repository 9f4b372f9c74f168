"""Partner adapters: one module per partner system, plus the contracts they implement (base.py)."""
