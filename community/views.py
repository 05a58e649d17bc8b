"""Community pages and form posts: thin views over ``community.services``.

A refused request (bad input, not allowed, rate limited) gets a page saying why with the
service's status (400, 403, 404, 409, 429) and changes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from community import discovery, proposals, services
from community.errors import CommunityError
from community.forms import (
    ClarificationForm,
    CommentForm,
    ProposalEditForm,
    ProposalForm,
    ReasonForm,
    SettingsForm,
)
from community.models import Comment, CommentReport, Kind, Proposal, Tag
from community.unsubscribe import unsubscribe_read
from markets.models import MAX_ID, Question, Tournament


def _question(request: HttpRequest, pk: int) -> Question:
    question = Question.objects.visible_one(request.user, pk)
    if question is None:
        raise Http404("No such question.")
    return question


def _comment(request: HttpRequest, pk: int) -> Comment:
    comment = Comment.objects.select_related("question__tournament").filter(pk=pk).first()
    if comment is None or not comment.question.tournament.is_visible_to(request.user):
        raise Http404("No such comment.")
    return comment


def _refused(request: HttpRequest, message: str, status: int, back: str = "") -> HttpResponse:
    response = render(
        request, "community/refused.html", {"message": message, "back": back}, status=status
    )
    retry = getattr(request, "_retry_after", None)
    if retry:
        response["Retry-After"] = str(retry)
    return response


def _domain_error(request: HttpRequest, exc: CommunityError, back: str) -> HttpResponse:
    retry = getattr(exc, "retry_after", None)
    if retry:
        request._retry_after = retry  # type: ignore[attr-defined]
    return _refused(request, str(exc), exc.status_code, back)


def _form_error(request: HttpRequest, form, back: str) -> HttpResponse:
    message = " ".join(e for errors in form.errors.values() for e in errors)
    return _refused(request, f"Nothing was saved: {message}", 400, back)


@require_POST
def comment_create(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    back = question.get_absolute_url() + "#discussion"
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _form_error(request, form, back)
    parent = None
    if form.cleaned_data["parent"]:
        parent = Comment.objects.filter(pk=form.cleaned_data["parent"], question=question).first()
        if parent is None:
            return _refused(request, "No such comment to reply to.", 404, back)
    try:
        comment = services.comment_post(
            author=request.user, question=question, body=form.cleaned_data["body"], parent=parent
        )
    except CommunityError as exc:
        return _domain_error(request, exc, back)
    messages.success(request, "Your comment is posted.")
    return redirect(f"{question.get_absolute_url()}#comment-{comment.pk}")


@login_required
def comment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment(request, pk)
    back = f"{comment.question.get_absolute_url()}#comment-{comment.pk}"
    if comment.author_id != request.user.pk:
        return _refused(request, "Only its author can edit a comment.", 403, back)
    if request.method == "POST":
        form = CommentForm(request.POST)
        if not form.is_valid():
            return _form_error(request, form, back)
        try:
            services.comment_edit(
                comment=comment, editor=request.user, body=form.cleaned_data["body"]
            )
        except CommunityError as exc:
            return _domain_error(request, exc, back)
        messages.success(request, "Your comment is updated.")
        return redirect(back)
    form = CommentForm(initial={"body": comment.body})
    deadline = services.comment_edit_deadline(comment)
    return render(
        request,
        "community/comment_edit.html",
        {"comment": comment, "form": form, "deadline": deadline, "back": back},
    )


@require_POST
def comment_report(request: HttpRequest, pk: int) -> HttpResponse:
    comment = _comment(request, pk)
    back = f"{comment.question.get_absolute_url()}#comment-{comment.pk}"
    if not request.user.is_authenticated:
        return redirect_to_login(back)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _form_error(request, form, back)
    try:
        services.comment_report(
            comment=comment, reporter=request.user, reason=form.cleaned_data["reason"]
        )
    except CommunityError as exc:
        return _domain_error(request, exc, back)
    messages.success(request, "Thank you: the moderators will look at this comment.")
    return redirect(back)


def _moderate(request: HttpRequest, pk: int, action) -> HttpResponse:
    comment = _comment(request, pk)
    back = f"{comment.question.get_absolute_url()}#comment-{comment.pk}"
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such page.")
    form = ReasonForm(request.POST)
    if not form.is_valid():
        return _form_error(request, form, back)
    try:
        action(comment=comment, moderator=request.user, reason=form.cleaned_data["reason"])
    except CommunityError as exc:
        return _domain_error(request, exc, back)
    messages.success(request, "Done.")
    return redirect((request.POST.get("next") == "queue" and "report-queue") or back)


@require_POST
def comment_hide(request: HttpRequest, pk: int) -> HttpResponse:
    return _moderate(request, pk, services.comment_hide)


@require_POST
def comment_restore(request: HttpRequest, pk: int) -> HttpResponse:
    return _moderate(request, pk, services.comment_restore)


def report_queue(request: HttpRequest) -> HttpResponse:
    """Staff: comments with open reports, most reported first."""
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such page.")
    reports = (
        CommentReport.objects.filter(handled_at__isnull=True)
        .select_related("comment__question", "comment__author", "reporter")
        .order_by("comment_id", "created_at")
    )
    return render(request, "community/report_queue.html", {"reports": reports})


@require_POST
def clarification_create(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    back = question.get_absolute_url() + "#clarifications"
    if not (request.user.is_authenticated and request.user.is_staff):
        return _refused(request, "Only staff can post clarifications.", 403, back)
    form = ClarificationForm(request.POST)
    if not form.is_valid():
        return _form_error(request, form, back)
    try:
        services.clarification_post(
            question=question, author=request.user, body=form.cleaned_data["body"]
        )
    except CommunityError as exc:
        return _domain_error(request, exc, back)
    messages.success(request, "The clarification is pinned and followers are notified.")
    return redirect(back)


@require_POST
def question_follow(request: HttpRequest, pk: int) -> HttpResponse:
    question = _question(request, pk)
    if not request.user.is_authenticated:
        return redirect_to_login(question.get_absolute_url())
    if request.POST.get("follow") == "0":
        services.unfollow(user=request.user, question=question)
        messages.success(request, "You no longer follow this question.")
    else:
        services.follow_question(user=request.user, question=question)
        messages.success(request, "You follow this question.")
    return redirect(question.get_absolute_url() + "#discussion")


@require_POST
def tournament_follow(request: HttpRequest, slug: str) -> HttpResponse:
    tournament = Tournament.objects.visible_to(request.user).filter(slug=slug).first()
    if tournament is None:
        raise Http404("No such tournament.")
    if not request.user.is_authenticated:
        return redirect_to_login(tournament.get_absolute_url())
    if request.POST.get("follow") == "0":
        services.unfollow(user=request.user, tournament=tournament)
        messages.success(request, "You no longer follow this tournament.")
    else:
        services.follow_tournament(user=request.user, tournament=tournament)
        messages.success(request, "You follow every question of this tournament.")
    return redirect(tournament.get_absolute_url())


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = services.notifications_visible(request.user).select_related("question")
    page = Paginator(notifications, 50).get_page(request.GET.get("page"))
    return render(request, "community/notifications.html", {"page": page})


@require_POST
@login_required
def notifications_read(request: HttpRequest) -> HttpResponse:
    raw = request.POST.getlist("id")
    try:
        ids = [int(x) for x in raw] if raw else None
    except ValueError:
        return _refused(request, "Not a notification id.", 400, "/notifications/")
    if ids is not None and not all(1 <= i <= MAX_ID for i in ids):
        # Out of the database's integer range: a 400, never an overflow error (a 500).
        return _refused(request, "Not a notification id.", 400, "/notifications/")
    services.notifications_mark_read(user=request.user, ids=ids)
    target = request.POST.get("go", "")
    # Only our own paths: never an open redirect.
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("notifications")


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    current = services.settings_for(request.user.pk)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            wanted = set(form.cleaned_data["kinds"])
            try:
                services.settings_update(
                    user_id=request.user.pk,
                    email_digest=form.cleaned_data["email_digest"],
                    muted_kinds=[k for k in Kind.values if k not in wanted],
                    stale_days=form.cleaned_data["stale_days"],
                    crowd_move_points=form.cleaned_data["crowd_move_points"],
                )
            except CommunityError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Your notification settings are saved.")
                return redirect("notification-settings")
        return render(request, "community/settings.html", {"form": form}, status=400)
    form = SettingsForm(
        initial={
            "email_digest": current.email_digest,
            "kinds": [k for k in Kind.values if current.wants(k)],
            "stale_days": current.stale_days,
            "crowd_move_points": current.crowd_move_points,
        }
    )
    return render(request, "community/settings.html", {"form": form})


@csrf_exempt  # the signed token is the credential; RFC 8058 one-click POSTs carry no cookie
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The email's link: a page with one button (GET changes nothing, so link scanners do
    not unsubscribe anyone); POST (also RFC 8058 one-click) does it. No login."""
    what = unsubscribe_read(token)
    user = None
    if what is not None:
        user = get_user_model().objects.filter(pk=what.user_id, is_active=True).first()
    if what is None or user is None:
        return _refused(request, "This unsubscribe link is not valid.", 400)
    label = Kind(what.kind).label if what.kind in Kind.values else ""
    if request.method == "POST":
        if what.kind in Kind.values:
            current = services.settings_for(user.pk)
            services.settings_update(user_id=user.pk, muted_kinds=[*current.muted_kinds, what.kind])
        else:
            services.settings_update(user_id=user.pk, email_digest=False)
        return render(request, "community/unsubscribed.html", {"label": label})
    return render(request, "community/unsubscribe.html", {"label": label, "token": token})


# --- Proposals -------------------------------------------------------------------------------


@login_required
def proposal_new(request: HttpRequest) -> HttpResponse:
    form = ProposalForm(request.POST or None)
    form.fields["tournament"].queryset = Tournament.objects.visible_to(request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                proposals.proposal_submit(author=request.user, **data)
            except CommunityError as exc:
                form.add_error(None, str(exc))
                status = exc.status_code
            else:
                messages.success(request, "Thank you: staff will review your proposal.")
                return redirect("proposals-mine")
        else:
            status = 400
    return render(request, "community/proposal_form.html", {"form": form}, status=status)


@login_required
def proposals_mine(request: HttpRequest) -> HttpResponse:
    mine = Proposal.objects.filter(author=request.user).select_related("question", "tournament")
    return render(request, "community/proposals_mine.html", {"proposals": mine})


def _staff_only(request: HttpRequest) -> None:
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404("No such page.")


def proposal_queue(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    pending = Proposal.objects.filter(state=Proposal.State.PENDING).select_related(
        "author", "tournament"
    )
    return render(request, "community/proposal_queue.html", {"proposals": pending})


def proposal_review(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    proposal = Proposal.objects.filter(pk=pk).select_related("author", "tournament").first()
    if proposal is None:
        raise Http404("No such proposal.")
    form = ProposalEditForm(instance=proposal)
    status = 200
    error = ""
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "approve":
                question = proposals.proposal_approve(
                    proposal=proposal, reviewer=request.user, key=request.POST.get("key", "")
                )
                messages.success(request, "Approved: the question is created.")
                return redirect(question)
            if action == "reject":
                proposals.proposal_reject(
                    proposal=proposal, reviewer=request.user, reason=request.POST.get("reason", "")
                )
                messages.success(request, "Rejected; the author sees your reason.")
                return redirect("proposal-queue")
            if action == "edit":
                form = ProposalEditForm(request.POST, instance=Proposal(pk=proposal.pk))
                if form.is_valid():
                    proposals.proposal_edit(
                        proposal=proposal,
                        reviewer=request.user,
                        **{k: form.cleaned_data[k] for k in proposals.EDITABLE},
                    )
                    messages.success(request, "Saved your edits.")
                    return redirect("proposal-review", pk=proposal.pk)
                status = 400
            else:
                return _refused(request, "Unknown action.", 400)
        except CommunityError as exc:
            error = str(exc)
            status = exc.status_code
    return render(
        request,
        "community/proposal_review.html",
        {"proposal": proposal, "form": form, "error": error},
        status=status,
    )


# --- Discovery -------------------------------------------------------------------------------


def discover(request: HttpRequest) -> HttpResponse:
    """GET /discover/?q=…&tag=…&sort=closing|active|moved|update: search and sorts."""
    now = timezone.now()
    qs = Question.objects.visible_to(request.user).select_related("tournament")
    text = request.GET.get("q", "")
    tag_slug = request.GET.get("tag", "")
    sort_name = request.GET.get("sort", "")
    tag = None
    try:
        if tag_slug:
            tag = Tag.objects.filter(slug=tag_slug).first()
            if tag is None:
                raise discovery.BadQuery(f"No tag {tag_slug[:40]!r}.")
            qs = qs.filter(tags=tag)
        qs = discovery.search(qs, text)
        if not text or sort_name:
            qs = discovery.sort(qs, sort_name, user=request.user, now=now)
    except discovery.BadQuery as exc:
        return _refused(request, str(exc), 400, "/discover/")
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    tags = Tag.objects.filter(questions__in=Question.objects.visible_to(request.user)).distinct()
    return render(
        request,
        "community/discover.html",
        {
            "page": page,
            "q": text,
            "tag": tag,
            "tags": tags,
            "sorts": discovery.SORTS.items(),
            "sort": sort_name or ("" if text else "closing"),
            "now": now,
        },
    )


@require_POST
def question_tags(request: HttpRequest, pk: int) -> HttpResponse:
    """Staff: set a question's tags (comma-separated names)."""
    question = _question(request, pk)
    _staff_only(request)
    names = request.POST.get("tags", "")
    try:
        services.question_tags_set(question=question, names=names.split(","), user=request.user)
    except CommunityError as exc:
        return _domain_error(request, exc, question.get_absolute_url())
    return redirect(question.get_absolute_url() + "#discussion")
