"""The conditional page: a parent, a child and the two branch questions with their crowds side
by side (docs/methods.md §14). Every crowd is the one this viewer may see on the question's own
page (the reveal rules and the public series, docs/privacy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from markets.models import Conditional, Question, Resolution, Tournament
from web.views._common import QuestionRow, list_queryset, question_rows
from web.views.typed import TypedView, outcome_text, typed_view


@dataclass
class Side:
    """One question of the pair as the page shows it."""

    role: str  # "parent", "child", "if_yes", "if_no"
    label: str
    row: QuestionRow
    typed: TypedView | None
    outcome: str  # the final outcome in words, "" while unresolved

    @property
    def question(self) -> Question:
        return self.row.question


@dataclass
class Line:
    """A row of the side-by-side table: a label and one cell per column."""

    label: str
    cells: list[str]


def _cell(side: Side, kind: str, index: int) -> str:
    from web.templatetags.takeoff import pct

    if not side.row.reveal.visible:
        return "hidden"
    if kind == "binary":
        return pct(side.row.crowd_probability) if side.row.crowd is not None else "—"
    if side.typed is None:
        return "—"
    if kind == "options":
        return pct(side.typed.options[index][1])
    return side.typed.quantiles[index][1]


def comparison(child: Question, columns: list[Side]) -> list[Line]:
    """The crowds of ``columns`` (branches and the child, all asking the child's question) as
    table lines: the probability of YES, each option's probability, or the quantiles."""
    if child.is_binary:
        return [Line("Probability of YES", [_cell(s, "binary", 0) for s in columns])]
    if child.type == Question.Type.MULTIPLE_CHOICE:
        return [
            Line(str(label), [_cell(s, "options", i) for s in columns])
            for i, label in enumerate(child.options)
        ]
    levels = ["5%", "25%", "50% (median)", "75%", "95%"]
    return [
        Line(level, [_cell(s, "quantiles", i) for s in columns]) for i, level in enumerate(levels)
    ]


def visible_conditional(request: HttpRequest, pk: int) -> Conditional:
    """The conditional, or a 404 page when it does not exist or its tournament is not visible
    (the parent, child and branches share one tournament)."""
    conditional = (
        Conditional.objects.filter(
            pk=pk, parent__tournament__in=Tournament.objects.visible_to(request.user)
        )
        .select_related("parent__tournament")
        .first()
    )
    if conditional is None:
        raise Http404("No such conditional question.")
    return conditional


def conditional_detail(request: HttpRequest, pk: int) -> HttpResponse:
    conditional = visible_conditional(request, pk)
    now = timezone.now()
    ids = {
        "parent": conditional.parent_id,
        "child": conditional.child_id,
        "if_yes": conditional.if_yes_id,
        "if_no": conditional.if_no_id,
    }
    questions = {q.pk: q for q in list_queryset(request.user).filter(pk__in=ids.values())}
    if len(questions) != 4:
        raise Http404("No such conditional question.")
    rows = {
        row.question.pk: row for row in question_rows(list(questions.values()), request.user, now)
    }
    finals = {
        r.question_id: r
        for r in Resolution.objects.filter(
            question_id__in=ids.values(), state=Resolution.State.FINAL
        )
    }
    parent_title = conditional.parent.title
    labels = {
        "parent": "Condition",
        "child": "Outcome asked",
        "if_yes": "If the condition resolves YES",
        "if_no": "If the condition resolves NO",
    }
    sides: dict[str, Side] = {}
    for role, qid in ids.items():
        row = rows[qid]
        q = row.question
        sides[role] = Side(
            role=role,
            label=labels[role],
            row=row,
            typed=typed_view(q, row.crowd) if row.reveal.visible else None,
            outcome=outcome_text(q, finals.get(qid)),
        )
    columns = [sides["if_yes"], sides["if_no"], sides["child"]]
    context: dict[str, Any] = {
        "conditional": conditional,
        "tournament": conditional.parent.tournament,
        "parent_title": parent_title,
        "parent": sides["parent"],
        "child": sides["child"],
        "branches": [sides["if_yes"], sides["if_no"]],
        "columns": columns,
        "lines": comparison(sides["child"].question, columns),
        "now": now,
    }
    return render(request, "markets/conditional_detail.html", context)


def conditionals_of(question: Question) -> list[dict[str, Any]]:
    """The conditional pairs ``question`` belongs to, with its role in each (for links from the
    question page): ``[{"conditional": ..., "role": "if_yes" | "if_no" | "parent" |
    "child"}]``."""
    found = []
    for c in (
        Conditional.objects.filter(
            Q(parent=question) | Q(child=question) | Q(if_yes=question) | Q(if_no=question)
        )
        .select_related("parent", "child")
        .order_by("pk")
    ):
        role = c.branch_side(question.pk)
        role = f"if_{role}" if role else ("parent" if c.parent_id == question.pk else "child")
        found.append({"conditional": c, "role": role})
    return found
