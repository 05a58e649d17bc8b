"""Download links of the crowd history on the question and tournament pages (issue 19)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _links(url: str) -> list[str]:
    return [f'href="{url}?format={fmt}"' for fmt in ("csv", "json", "parquet")]


def test_question_page_links_the_crowd_export_in_every_format(site):
    body = Client().get(site.open_q.get_absolute_url()).content.decode()
    url = reverse("v1:question-crowd-export", args=[site.open_q.pk])
    assert all(link in body for link in _links(url))
    manifest = reverse("v1:question-crowd-manifest", args=[site.open_q.pk])
    assert f'href="{manifest}?format=csv"' in body
    assert "Download the crowd history" in body
    # Anonymous viewers get the public series and are told so.
    assert "the public series: a point per batch of at least 3 forecasters" in body


def test_staff_see_the_full_series_note_gone(site):
    client = Client()
    client.force_login(UserFactory(username="staffer", is_staff=True))
    body = client.get(site.open_q.get_absolute_url()).content.decode()
    assert "Download the crowd history" in body and "the public series" not in body


def test_the_linked_file_downloads_for_an_anonymous_viewer(site):
    url = reverse("v1:question-crowd-export", args=[site.open_q.pk])
    r = Client().get(f"{url}?format=csv")
    assert r.status_code == 200
    assert r["Content-Disposition"] == 'attachment; filename="ai-milestones-open-crowd.csv"'
    assert b"".join(r.streaming_content).startswith(
        b"question,time,forecasters,probability,median,mean\n"
    )


def test_no_download_link_while_the_crowd_is_hidden(site):
    site.tournament.min_forecasters = 5
    site.tournament.save()
    body = Client().get(site.open_q.get_absolute_url()).content.decode()
    assert "Download the crowd history" not in body
    url = reverse("v1:question-crowd-export", args=[site.open_q.pk])
    assert Client().get(f"{url}?format=csv").status_code == 403  # what the link would give


def test_tournament_page_links_the_tournament_crowd_export(site):
    body = Client().get(site.tournament.get_absolute_url()).content.decode()
    url = reverse("v1:tournament-crowd-export", args=[site.tournament.slug])
    assert all(link in body for link in _links(url))
    assert f'href="{reverse("v1:tournament-crowd-manifest", args=[site.tournament.slug])}' in body
    r = Client().get(f"{url}?format=json")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
