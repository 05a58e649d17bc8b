"""Forms of the community pages: they validate input; the services decide."""

from __future__ import annotations

from django import forms

from community.models import BODY_MAX, Kind, Proposal
from community.services import REASON_MAX


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )
    parent = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX)


class ClarificationForm(forms.Form):
    body = forms.CharField(
        label="Clarification", max_length=BODY_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


class SettingsForm(forms.Form):
    email_digest = forms.BooleanField(label="Send me a daily email digest", required=False)
    kinds = forms.MultipleChoiceField(
        label="Tell me when",
        choices=Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    stale_days = forms.IntegerField(
        label="Remind me of a forecast not updated for (days)", min_value=1, max_value=365
    )
    crowd_move_points = forms.FloatField(
        label="Tell me when the crowd moved by (percentage points)", min_value=0.1, max_value=100
    )


class ProposalForm(forms.ModelForm):
    class Meta:
        model = Proposal
        fields = [
            "tournament",
            "title",
            "description",
            "resolution_criteria",
            "open_time",
            "close_time",
        ]
        widgets = {
            "open_time": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "close_time": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }


class ProposalEditForm(forms.ModelForm):
    """Staff edits before a decision (validated again by ``proposal_edit``)."""

    class Meta:
        model = Proposal
        fields = ["title", "description", "resolution_criteria", "open_time", "close_time"]
        widgets = ProposalForm.Meta.widgets
