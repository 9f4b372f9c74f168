"""The work itself: poll sources, export import files, write outcomes back. Handlers call these."""
