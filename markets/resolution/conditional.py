"""Conditional questions: the branches follow their parent and child (docs/methods.md §14).

A conditional pair (``markets.models.Conditional``) has a yes/no parent, a child of any type
and two branch questions. Their resolution is a function of the parent's and the child's final
resolutions, nothing else:

- the parent or the child annulled → both branches annulled;
- the parent unresolved → both branches unresolved;
- the parent resolved YES → the NO branch annulled (effective when the parent resolved), the
  YES branch unresolved until the child resolves, then the child's outcome (option, value),
  effective at the later of the two resolution times; NO alike.

``conditional_reconcile`` brings both branches to that state through ``question_resolve`` and
``question_unresolve`` — so every branch change is a resolution version with its audit record,
scored and un-scored like any other — and does nothing when they are there already. It runs
inside the transaction of every final version and withdrawal (the ``resolution_finalized``,
``resolutions_finalized`` and ``resolution_withdrawn`` receivers connected in
``markets.apps``): staff resolution, re-resolution and un-resolution, imports, milestone
proposals made final by the review window or by staff. A task that runs twice finds the
branches in place and changes nothing.

The conditional row is locked first: a parent and a child resolved at the same moment in two
transactions serialize on it, and the second sees the first's committed resolution (the same
read-committed reasoning as the question lock, ``versions.lock_question``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from markets.errors import ResolutionError
from markets.models import Conditional, Question, Resolution
from markets.resolution.versions import final_resolution

Outcome = Resolution.Outcome
State = Resolution.State
CONDITIONAL_LABEL = "conditional"
BATCH = 2_000  # question ids per statement when many are announced at once


@dataclass(frozen=True)
class Target:
    """What a branch should hold: a final ``outcome`` (with ``option``/``value``) effective at
    ``resolved_at``, and the ``reason`` in words; ``outcome`` None means no resolution."""

    outcome: str | None
    option: int | None = None
    value: float | None = None
    resolved_at: dt.datetime | None = None
    reason: str = ""


def branch_target(
    side: str, parent: Resolution | None, child: Resolution | None, *, parent_title: str = ""
) -> Target:
    """The state of the ``side`` ("yes" or "no") branch given the parent's and the child's final
    resolutions (None when unresolved), docs/methods.md §14.2."""
    annulled = [r for r in (parent, child) if r is not None and r.outcome == Outcome.ANNULLED]
    if annulled:
        which = "parent" if annulled[0] is parent else "child"
        return Target(
            Outcome.ANNULLED,
            resolved_at=min(r.resolved_at for r in annulled),
            reason=f"The conditional's {which} was annulled: both branches are annulled.",
        )
    if parent is None:
        return Target(None, reason="The conditional's parent is no longer resolved.")
    taken = "yes" if parent.outcome == Outcome.YES else "no"
    if taken != side:
        return Target(
            Outcome.ANNULLED,
            resolved_at=parent.resolved_at,
            reason=f"The parent “{parent_title}” resolved {taken.upper()}: this branch is not "
            "the one taken.",
        )
    if child is None:
        return Target(None, reason="The child is no longer resolved.")
    return Target(
        child.outcome,
        option=child.option,
        value=child.value,
        resolved_at=max(parent.resolved_at, child.resolved_at),
        reason=f"The parent resolved {taken.upper()}; the branch follows the child's "
        f"resolution (version {child.version}).",
    )


def _evidence(parent: Resolution | None, child: Resolution | None) -> dict[str, Any]:
    evidence: dict[str, Any] = {}
    if parent is not None:
        evidence.update(parent_question=parent.question_id, parent_version=parent.version)
    if child is not None:
        evidence.update(child_question=child.question_id, child_version=child.version)
    return evidence


def _apply(branch: Question, target: Target, evidence: dict[str, Any]) -> bool:
    from markets.resolution.manual import question_resolve, question_unresolve

    current = final_resolution(branch)
    if target.outcome is None:
        if current is None:
            return False
        question_unresolve(
            question_id=branch.pk,
            reason=target.reason,
            source=Resolution.Source.CONDITIONAL,
            actor_label=CONDITIONAL_LABEL,
            evidence=evidence,
        )
        return True
    assert target.resolved_at is not None
    # The effective time cannot precede the branch's opening (question_resolve refuses it): a
    # branch opened after the parent resolved counts from its opening.
    resolved_at = max(target.resolved_at, branch.open_time)
    wanted = (target.outcome, target.option, target.value, resolved_at)
    if current is not None and wanted == (
        current.outcome,
        current.option,
        current.value,
        current.resolved_at,
    ):
        return False
    question_resolve(
        question_id=branch.pk,
        outcome=target.outcome,
        option=target.option,
        value=target.value,
        resolved_at=resolved_at,
        reason=target.reason,
        source=Resolution.Source.CONDITIONAL,
        actor_label=CONDITIONAL_LABEL,
        evidence=evidence,
    )
    return True


def conditional_reconcile(*, conditional_id: int) -> int:
    """Bring both branches of the conditional ``conditional_id`` to the state its parent and
    child give (``branch_target``); returns how many branches changed (0 when they were in
    place: safe to repeat). Runs in the caller's transaction and needs one (it locks the
    conditional row). Raises ``Conditional.DoesNotExist`` for an unknown id."""
    conditional = (
        Conditional.objects.select_for_update(of=("self",))
        .select_related("parent", "child", "if_yes", "if_no")
        .get(pk=conditional_id)
    )
    parent = final_resolution(conditional.parent)
    child = final_resolution(conditional.child)
    evidence = _evidence(parent, child)
    changed = 0
    for side, branch in (("yes", conditional.if_yes), ("no", conditional.if_no)):
        target = branch_target(side, parent, child, parent_title=conditional.parent.title)
        changed += _apply(branch, target, evidence)
    return changed


def conditionals_follow(question_ids: Iterable[int]) -> int:
    """Reconcile every conditional whose parent or child is among ``question_ids`` (in id
    order, so two transactions lock conditionals in the same order); returns the branches
    changed."""
    ids = list(question_ids)
    found: set[int] = set()
    for start in range(0, len(ids), BATCH):  # an import announces thousands at once
        batch = ids[start : start + BATCH]
        found.update(
            Conditional.objects.filter(Q(parent_id__in=batch) | Q(child_id__in=batch)).values_list(
                "pk", flat=True
            )
        )
    return sum(conditional_reconcile(conditional_id=pk) for pk in sorted(found))


def branch_of(question_id: int) -> Conditional | None:
    """The conditional of which ``question_id`` is a branch, if any."""
    return (
        Conditional.objects.filter(Q(if_yes_id=question_id) | Q(if_no_id=question_id))
        .select_related("parent", "child")
        .first()
    )


def refuse_branch(question_id: int, source: str) -> None:
    """Raise ``ResolutionError`` when ``question_id`` is a conditional's branch and ``source``
    is not the conditional: a branch resolves only from its parent and child."""
    if source == Resolution.Source.CONDITIONAL:
        return
    conditional = branch_of(question_id)
    if conditional is not None:
        raise ResolutionError(
            f"This question is a branch of the conditional on “{conditional.parent}”: it "
            f"resolves only from its parent and its child (“{conditional.child}”). Resolve "
            "those instead."
        )


def on_resolution_finalized(sender: Any, question_id: int, **kwargs: Any) -> None:
    """``resolution_finalized`` / ``resolution_withdrawn`` receiver: the conditionals of the
    question follow, in the same transaction."""
    conditionals_follow([question_id])


def on_resolutions_finalized(sender: Any, pairs: list[tuple[int, int]], **kwargs: Any) -> None:
    """``resolutions_finalized`` receiver (bulk imports)."""
    conditionals_follow(qid for qid, _ in pairs)
