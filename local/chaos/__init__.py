"""Chaos tooling for the local stack (never shipped): hostile input and faults, fed through the real
handlers, with a report of what broke (`fuzz.run_fuzz`: hostile webhook requests)."""
