"""What a chaos run found: one row per scenario, the invariants it broke, and the table it prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

COLUMNS = (
    ("scenario", "scenario"),
    ("documents", "documents"),
    ("faults", "faults injected"),
    ("crashes", "crashes injected"),
    ("duplicates", "duplicates"),
    ("lost", "lost"),
    ("stuck", "stuck"),
    ("server_errors", "answers ≥ 500"),
    ("secrets_found", "secrets found"),
)


@dataclass
class ScenarioResult:
    """One scenario's figures. `violations` name every broken invariant (empty: it held)."""

    scenario: str
    documents: int = 0
    faults: int = 0
    crashes: int = 0
    duplicates: int = 0
    lost: int = 0
    stuck: int = 0
    server_errors: int = 0
    secrets_found: int = 0
    violations: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def violate(self, what: str, count: int = 1) -> None:
        self.violations.append(what)

    def check(self, holds: bool, what: str) -> None:
        if not holds:
            self.violations.append(what)


@dataclass
class ChaosReport:
    seed: int
    mode: str
    results: list[ScenarioResult] = field(default_factory=list)

    @property
    def violations(self) -> list[str]:
        return [f"{r.scenario}: {v}" for r in self.results for v in r.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def totals(self) -> ScenarioResult:
        total = ScenarioResult("total")
        for name, _ in COLUMNS[1:]:
            setattr(total, name, sum(getattr(r, name) for r in self.results))
        return total

    def print(self, out: TextIO) -> None:
        rows = [[str(getattr(r, name)) for name, _ in COLUMNS] for r in [*self.results, self.totals()]]
        headers = [title for _, title in COLUMNS]
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        print(f"chaos run — {self.mode}, seed {self.seed}", file=out)
        print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |", file=out)
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)
        for row in rows:
            print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |", file=out)
        for result in self.results:
            if result.details:
                shown = ", ".join(f"{k} {v}" for k, v in result.details.items())
                print(f"  {result.scenario}: {shown}", file=out)
        if self.violations:
            print(f"\n{len(self.violations)} violation(s):", file=out)
            for violation in self.violations:
                print(f"  - {violation}", file=out)
        else:
            print("\nevery invariant held", file=out)


def count_kinds(counters: list[dict[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in counters:
        total.update(counter)
    return total


def check_secrets(
    stack: Any, result: ScenarioResult, *, since: float, responses: list[Any] | None = None
) -> None:
    """Search every secret the stack used in its logs, state table, stored objects and `responses`."""
    from local.chaos.secrets import find_secrets
    from local.chaos.stack_secrets import stack_secrets

    found = find_secrets(stack, stack_secrets(stack), responses=responses or [], since=since)
    result.secrets_found += len(found)
    result.violations.extend(f"secret found: {where}" for where in found)
