"""The forecast form: a probability in percent (0.1 to 99.9) and an optional rationale."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import forms

P_MIN_PERCENT = Decimal("0.1")
P_MAX_PERCENT = Decimal("99.9")
RANGE_HELP = "A percentage from 0.1 to 99.9: nothing is certain, so 0 and 100 are not allowed."


class PercentField(forms.DecimalField):
    """A number of percent; tolerates a trailing "%" and a decimal comma."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.strip().removesuffix("%").strip().replace(",", ".")
        return super().to_python(value)


class ForecastForm(forms.Form):
    probability = PercentField(
        label="Your forecast",
        min_value=P_MIN_PERCENT,
        max_value=P_MAX_PERCENT,
        max_digits=6,
        decimal_places=3,
        help_text=RANGE_HELP,
        error_messages={
            "required": "Enter your forecast as a percentage, e.g. 72.",
            "invalid": "That is not a number. Enter a percentage from 0.1 to 99.9, e.g. 72.",
            "min_value": "The lowest forecast allowed is 0.1%%: nothing is impossible.",
            "max_value": "The highest forecast allowed is 99.9%%: nothing is certain.",
            "max_digits": "Use at most three decimals, e.g. 72.125.",
            "max_decimal_places": "Use at most three decimals, e.g. 72.125.",
            "max_whole_digits": "Enter a percentage from 0.1 to 99.9.",
        },
        widget=forms.NumberInput(
            attrs={"step": "0.1", "min": "0.1", "max": "99.9", "inputmode": "decimal"}
        ),
    )
    rationale = forms.CharField(
        label="Rationale (optional)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What moved you to this number?"}),
    )

    share_rationale = forms.BooleanField(
        label="Share my rationale in the discussion (your number stays private)",
        required=False,
    )

    def clean_probability(self) -> float:
        percent: Decimal = self.cleaned_data["probability"]
        # Decimal division first, so 99.9% is exactly the float nearest 0.999 (the DB bound).
        return float(percent / Decimal(100))

    @staticmethod
    def percent(p: float | None) -> str:
        """A probability as the text of the percent input: 0.72 → "72", 0.7215 → "72.15"."""
        if p is None:
            return ""
        try:
            d = (Decimal(repr(p)) * 100).quantize(Decimal("0.001"))
        except InvalidOperation:
            return ""
        return format(d.normalize(), "f")
