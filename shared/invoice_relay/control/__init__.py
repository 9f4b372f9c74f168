"""The control plane: what the management API does with connectors (create, configure, start, pause,
delete, run now), their schedules and credentials, and what it reads back (health, runs, logs, document
timelines, dead letters, import files). Driven by the partner registry: no partner is named here."""
