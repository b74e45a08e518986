"""The pure ingestion planner: what one run of a source writes, keeps, removes and refuses, and why.

Why a module of its own: these rules are the correctness core of the catalog (who owns a ref, what a
re-run rewrites, what it may delete), so they are decided here without a database and unit-tested on plain
values (tests/test_plan.py); `ingest.execute` reads what the graph holds and writes the plan.

Two pure steps, in the order a run takes them:

1. `declare(batch, source)`: every candidate document transformed for `source`; a document with a problem
   or of a kind its rules refuse is rejected naming the rule; a ref declared twice in the run goes to the
   most trusted rules, then to the batch's own order (ingest.kinds).
2. `plan(declared, stored, elsewhere, guard)`: compared with what `source` stored before (unchanged by
   content hash, or updated), a ref another source holds stays with that holder (a conflict), what `source`
   held and no longer declares is removed unless something says it may still exist, and the removal guard
   may refuse the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple

from graph.write import StoredEntity
from ingest.descriptors.model import Rejection
from ingest.kinds import KindRules
from ingest.transform import Transformed, transform


class Candidate(NamedTuple):
    """One validated document this run offers: `file` is stored on the entity, `shown` names it in errors,
    `index` its position in that file (or among an origin's items), `rules` the kinds it may be."""

    file: str
    shown: str
    index: int | None
    entity: dict
    rules: KindRules


@dataclass
class Batch:
    """What the get step of a run hands to the planner: its candidates and what must not be removed."""

    candidates: list[Candidate]
    shown: Callable[[str], str]                              # a stored entity's file as errors name it
    kept: dict[str, str] = field(default_factory=dict)       # ref -> shown file, reused without reading
    protected: set[str] = field(default_factory=set)         # refs rejected this time: keep the stored one
    failed: set[str] = field(default_factory=set)            # shown files/origins that could not be read
    truncated: bool = False                                  # not everything was seen: remove nothing
    # A document of a kind its rules refuse: keep what is stored under that ref (a location shared by the CLI
    # and people's refreshes must not lose the operator's groups), or remove it (a provider's own source: an
    # entity it may not declare, e.g. a Group a repository added before kind rules, must go).
    keep_refused: bool = True


@dataclass(frozen=True)
class Conflict:
    """A ref this run declared but may not hold: `holder` keeps it.

    Inside the run (`elsewhere` False) the holder is the file that declared it first (`outranked`: because its
    rules are trusted more); across sources (`elsewhere` True) it is the location that stores it already.
    """

    ref: str
    file: str
    document: int | None
    holder: str
    elsewhere: bool = False
    outranked: bool = False

    @property
    def reason(self) -> str:
        if self.elsewhere:
            return f"{self.ref} is already owned by location {self.holder}; the first location keeps it"
        return f"{self.ref} is already declared in {self.holder} of this location"

    def as_dict(self) -> dict:
        return {"ref": self.ref, "file": self.file, "document": self.document, "reason": self.reason}


@dataclass
class Declared:
    """What a run declares after transforming, kind rules and the in-run contest (step 1)."""

    batch: Batch
    accepted: dict[str, Transformed]      # ref -> the document that won it in this run
    rejected: list[Rejection]             # documents with a problem or of a refused kind, in candidate order
    conflicts: list[Conflict]             # refs lost to an earlier or more trusted document of this run
    protected: set[str]                   # refs whose stored entity stays although no document wins them


@dataclass
class Plan:
    """What one run of a source does (step 2). Writes come in this order: `to_write`, then `to_remove`."""

    accepted: dict[str, Transformed]      # ref -> document this source holds after the run, read this time
    to_add: list[Transformed]             # refs the source did not hold: create, or fill a placeholder
    to_update: list[Transformed]          # held with another content hash: rewrite, replace their relations
    unchanged: list[str]                  # held with the same hash, or in files reused without reading
    to_remove: list[str]                  # held before, declared no more, nothing protects them
    new_nodes: set[str]                   # refs of `to_add` no node holds yet, not even a placeholder
    rejected: list[Rejection]
    conflicts: list[Conflict]             # in-run conflicts first, then refs other sources hold
    removal_refused: str | None = None    # the guard's reason when it stops this run (nothing is written)

    @property
    def to_write(self) -> list[Transformed]:
        return self.to_add + self.to_update


@dataclass
class RemovalGuard:
    """Refuse to delete more than `max_share` of a location's entities in one run unless forced."""

    max_share: float = 0.5
    min_count: int = 10
    force: bool = False

    def refusal(self, removing: int, owned: int) -> str | None:
        """Why removing `removing` of the `owned` entities in one run is refused, or None when it may go on."""
        if self.force or removing < self.min_count or owned == 0:
            return None
        if removing / owned > self.max_share:
            return (f"refusing to remove {removing} of {owned} entities ({removing / owned:.0%}) from this location "
                    f"in one run (limit {self.max_share:.0%}); re-run with --force if that is intended")
        return None


def declare(batch: Batch, source: str) -> Declared:
    """Step 1: transform each candidate for `source`, apply its kind rules, settle refs declared twice.

    Who wins a ref declared twice in this run: the most trusted rules first, then the batch's own order
    (files: the reader's sorted discovery; providers: sorted by origin), never a provider's listing order.
    A ref already held by a file reused unchanged stays with that file.
    """
    accepted: dict[str, Transformed] = {}
    winners: dict[str, Candidate] = {}
    rejected: list[Rejection] = []
    conflicts: list[Conflict] = []
    protected = set(batch.protected)
    for candidate in sorted(batch.candidates, key=lambda c: -c.rules.trust):
        item = transform(candidate.entity, file=candidate.file, origin=source)
        ref = item.row.ref
        refused = candidate.rules.reason(item.row.kind)
        if refused:
            item.problems.append(("kind", refused))
        if item.problems:
            if batch.keep_refused or not refused:
                protected.add(ref)
            rejected.extend(Rejection(candidate.shown, candidate.index, ref, where, reason)
                            for where, reason in item.problems)
            continue
        if ref in accepted or ref in batch.kept:
            winner = winners.get(ref)
            conflicts.append(Conflict(
                ref, candidate.shown, candidate.index,
                holder=batch.shown(winner.file) if winner is not None else batch.kept[ref],
                outranked=winner is not None and winner.rules.trust > candidate.rules.trust,
            ))
            continue
        accepted[ref] = item
        winners[ref] = candidate
    return Declared(batch, accepted, rejected, conflicts, protected)


def plan(declared: Declared, stored: Mapping[str, StoredEntity], elsewhere: Mapping[str, StoredEntity],
         guard: RemovalGuard) -> Plan:
    """Step 2: compare with what the source `stored` before and what `elsewhere` (any other node) holds.

    `elsewhere` needs the accepted refs the source does not store; a node there with a source is another
    location's entity (it keeps the ref), one without is a placeholder this run may fill. What the source
    stored and no longer declares is removed, except refs rejected this time, entities of files that could
    not be read, and everything when the read was truncated.
    """
    batch = declared.batch
    accepted = dict(declared.accepted)
    conflicts = list(declared.conflicts)
    unchanged = list(batch.kept)
    to_add: list[Transformed] = []
    to_update: list[Transformed] = []
    for ref, item in declared.accepted.items():
        held = stored.get(ref)
        if held is not None:
            if held.hash == item.row.hash:
                unchanged.append(ref)
            else:
                to_update.append(item)
            continue
        holder = elsewhere.get(ref)
        if holder is not None and holder.source is not None:
            del accepted[ref]
            conflicts.append(Conflict(ref, batch.shown(item.row.file), None, holder=holder.source, elsewhere=True))
            continue
        to_add.append(item)

    protected = declared.protected | set(stored) if batch.truncated else declared.protected
    to_remove = [
        ref for ref, held in stored.items()
        if ref not in accepted and ref not in batch.kept and ref not in protected
        and batch.shown(held.file or "") not in batch.failed
    ]
    return Plan(
        accepted=accepted, to_add=to_add, to_update=to_update, unchanged=unchanged, to_remove=to_remove,
        new_nodes={item.row.ref for item in to_add if item.row.ref not in elsewhere},
        rejected=declared.rejected, conflicts=conflicts,
        removal_refused=guard.refusal(len(to_remove), len(stored)),
    )
