"""Template tags: safe Markdown, and the question page's community section."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Prefetch
from django.utils.safestring import SafeString, mark_safe

from community.forms import CommentForm
from community.markdown import render_markdown
from community.models import Clarification, Comment, Follow
from community.services import comment_edit_deadline

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(source: str) -> SafeString:
    """Markdown source → sanitised HTML (community.markdown)."""
    return mark_safe(render_markdown(source or ""))


@register.inclusion_tag("community/_question_section.html", takes_context=True)
def question_community(context: template.Context, question: Any) -> dict[str, Any]:
    """Clarifications, the follow button, the proposer's credit and the discussion."""
    request = context["request"]
    user = request.user
    replies = Prefetch(
        "replies", queryset=Comment.objects.select_related("author").order_by("created_at", "id")
    )
    comments = list(
        Comment.objects.filter(question=question, parent__isnull=True)
        .select_related("author")
        .prefetch_related(replies)
        .order_by("created_at", "id")
    )
    from django.utils import timezone

    now = timezone.now()
    for item in [*comments, *(r for top in comments for r in top.replies.all())]:
        item.editable = (
            user.is_authenticated
            and item.author_id == user.pk
            and not item.is_hidden
            and now <= comment_edit_deadline(item)
        )
    following = (
        user.is_authenticated and Follow.objects.filter(user=user, question=question).exists()
    )
    proposal = getattr(question, "proposal", None) if hasattr(question, "proposal") else None
    return {
        "request": request,
        "user": user,
        "question": question,
        "clarifications": Clarification.objects.filter(question=question).select_related("author"),
        "comments": comments,
        "following": following,
        "proposal": proposal,
        "form": CommentForm(),
        "tags": list(question.tags.all()),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("community/_tournament_follow.html", takes_context=True)
def tournament_follow(context: template.Context, tournament: Any) -> dict[str, Any]:
    """The follow / unfollow button of a tournament page (logged-in users)."""
    user = context["request"].user
    following = (
        user.is_authenticated and Follow.objects.filter(user=user, tournament=tournament).exists()
    )
    return {
        "user": user,
        "tournament": tournament,
        "following": following,
        "csrf_token": context.get("csrf_token"),
    }
