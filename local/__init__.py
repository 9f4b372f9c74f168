"""Local tooling (never shipped to Lambda), layered with imports pointing one way:

    runtime  (embedded AWS, template, handler runner, API Gateway and SQS emulation: no partner knowledge)
      → sandboxes  (one package per partner API: server, store, seed)
        → scenarios  (the demo stack, the one home of demo ids, secrets and sample records)
          → commands  (`make demo`, `make invoke`, `make api`, `make logs`, sample events)

The layer (`shared/`) is importable at the root, as from /opt/python on Lambda.
"""

import os
import sys
from pathlib import Path

# As template.yaml sets it for every function: the layer's loggers join the service's logger.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "invoice-relay")

_LAYER = str(Path(__file__).resolve().parent.parent / "shared")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
