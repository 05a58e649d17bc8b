"""Routes of the community pages (mounted at the site root by config.urls)."""

from django.urls import path

from community import views

urlpatterns = [
    path("questions/<int:pk>/comments/", views.comment_create, name="comment-create"),
    path("comments/<int:pk>/edit/", views.comment_edit, name="comment-edit"),
    path("comments/<int:pk>/report/", views.comment_report, name="comment-report"),
    path("comments/<int:pk>/hide/", views.comment_hide, name="comment-hide"),
    path("comments/<int:pk>/restore/", views.comment_restore, name="comment-restore"),
    path(
        "questions/<int:pk>/clarifications/",
        views.clarification_create,
        name="clarification-create",
    ),
    path("questions/<int:pk>/follow/", views.question_follow, name="question-follow"),
    path("tournaments/<slug:slug>/follow/", views.tournament_follow, name="tournament-follow"),
    path("discover/", views.discover, name="discover"),
    path("questions/<int:pk>/tags/", views.question_tags, name="question-tags"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications-read"),
    path("notifications/settings/", views.notification_settings, name="notification-settings"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("staff/reports/", views.report_queue, name="report-queue"),
    path("proposals/new/", views.proposal_new, name="proposal-new"),
    path("proposals/", views.proposals_mine, name="proposals-mine"),
    path("staff/proposals/", views.proposal_queue, name="proposal-queue"),
    path("staff/proposals/<int:pk>/", views.proposal_review, name="proposal-review"),
]
