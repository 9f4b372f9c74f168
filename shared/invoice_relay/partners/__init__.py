"""Partner systems, one package each (`<system>/`: config, client, mapping, spec), the capabilities they
provide (`capabilities.py`) and the registry that pairs them (`registry.py`). Flows ask the registry for
a capability and never name a partner. Importing this package imports no partner: the registry imports a
partner's package when a connector first names its system."""
