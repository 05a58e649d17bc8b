"""JSON rendering of the API: floats rounded to ``SIGNIFICANT_DIGITS`` significant digits.

Sums and means of doubles carry binary noise in their last digits (a median of 0.555 stored as
``0.5549999999999999``, a mean of 0.7 as ``0.7000000000000001``). Every float of a JSON API
response is written as the shortest decimal that round-trips to the double nearest to the value
rounded to 12 significant digits: ``float(format(x, ".12g"))``, then ``repr``. Twelve digits
keep far more precision than any probability or score means (a double holds 15 to 17), and
are the same on every platform. NaN and infinities pass through unchanged.

Files are not rendered here: the exports (crowd, raw forecasts, scores, calibration CSV) keep
their own documented, byte-reproducible format (Python ``repr``, every digit), and so do the
export manifests, which ``verify_export`` compares value for value (their views use DRF's plain
``JSONRenderer``). docs/researcher-guide.md, "Numbers".
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework.renderers import JSONRenderer

SIGNIFICANT_DIGITS = 12


def round_float(x: float) -> float:
    """``x`` rounded to ``SIGNIFICANT_DIGITS`` significant digits (finite values only):
    ``round_float(0.5549999999999999) == 0.555``, ``round_float(0.7000000000000001) == 0.7``."""
    if not math.isfinite(x):
        return x
    return float(format(x, f".{SIGNIFICANT_DIGITS}g"))


def round_floats(value: Any) -> Any:
    """A copy of a JSON-able value (dicts, lists, tuples, scalars) with every float rounded by
    ``round_float``; booleans, integers and strings are kept as they are."""
    if isinstance(value, float):
        return round_float(value)
    if isinstance(value, dict):
        return {k: round_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_floats(v) for v in value]
    return value


class RoundedJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, floats rounded first (module doc): the API's default."""

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        return super().render(round_floats(data), accepted_media_type, renderer_context)
