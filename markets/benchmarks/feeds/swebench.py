"""SWE-bench: the website's ``data/leaderboards.json``.

``leaderboards[]`` each have a ``name`` (Verified, Lite, Test, bash-only, Multimodal) and
``results[]`` with ``name``, ``resolved`` (percent), ``date``, ``tags`` ("Model: …", "Org: …"),
``checked`` (true/false, null, or a string such as "false (See README.md …)") and ``site``
(a URL, a list of URLs, or null).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .base import (
    FeedParseError,
    ParsedResult,
    clean_url,
    decode_text,
    finish,
    make_result,
    parse_date,
    skip,
    slugify,
    to_float,
)

LEADERBOARD_SLUGS = {
    "verified": "swe-bench-verified",
    "lite": "swe-bench-lite",
    "test": "swe-bench-full",
    "full": "swe-bench-full",
    "bash-only": "swe-bench-bash-only",
    "multimodal": "swe-bench-multimodal",
}

# Scalar per-result fields worth keeping; everything else (logos, log/trajectory paths) is not.
_KEPT_FIELDS = ("folder", "os_model", "os_system", "cost", "instance_cost", "warning")


def leaderboard_slug(name: str) -> str:
    key = name.strip().lower()
    return LEADERBOARD_SLUGS.get(key) or f"swe-bench-{slugify(key)}"


class SweBenchFeed:
    name = "swebench"
    parser_version = "swebench-1"
    default_benchmarks: tuple[str, ...] = tuple(dict.fromkeys(LEADERBOARD_SLUGS.values()))
    # Not declared until it is known that entries leave the site's file only when withdrawn.
    whole_table = False

    def parse(self, raw: bytes, *, filename: str = "") -> list[ParsedResult]:
        text = decode_text(raw, feed=self.name)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FeedParseError(
                f"swebench: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise FeedParseError("swebench: invalid JSON: nested too deeply") from None
        if not isinstance(document, dict):
            raise FeedParseError(
                f"swebench: expected a JSON object with 'leaderboards', "
                f"got a JSON {_json_type(document)}"
            )
        boards = document.get("leaderboards")
        if not isinstance(boards, list):
            raise FeedParseError(
                "swebench: 'leaderboards' must be a list"
                if "leaderboards" in document
                else f"swebench: no 'leaderboards' key (keys: {sorted(document)[:10]})"
            )
        parsed: list[ParsedResult] = []
        for b, board in enumerate(boards):
            where = f"swebench: leaderboards[{b}]"
            if not isinstance(board, dict):
                raise FeedParseError(f"{where}: expected an object, got a {_json_type(board)}")
            board_name = board.get("name")
            if not isinstance(board_name, str) or not board_name.strip():
                raise FeedParseError(
                    f"{where}.name: expected a leaderboard name, got {board_name!r}"
                )
            results = board.get("results")
            if not isinstance(results, list):
                raise FeedParseError(
                    f"{where}.results ({board_name}): expected a list, got a {_json_type(results)}"
                )
            benchmark = leaderboard_slug(board_name)
            for r, entry in enumerate(results):
                parsed_entry = self._entry(entry, benchmark, board_name, f"{where}.results[{r}]")
                if parsed_entry is not None:
                    parsed.append(parsed_entry)
        return finish(parsed, feed=self.name)

    def _entry(
        self, entry: object, benchmark: str, board_name: str, where: str
    ) -> ParsedResult | None:
        if not isinstance(entry, dict):
            raise FeedParseError(f"{where}: expected an object, got a {_json_type(entry)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise FeedParseError(f"{where}.name: expected the system's name, got {name!r}")
        where = f"{where} ({name.strip()})"
        value = to_float(entry.get("resolved"), where=f"{where}.resolved")
        if value is None:
            skip(self.name, where, "no 'resolved' value")
            return None
        checked, checked_note = _checked(entry.get("checked"))
        sites = _sites(entry.get("site"))
        raw_tags = entry.get("tags")
        tags = [t for t in raw_tags if isinstance(t, str)] if isinstance(raw_tags, list) else []
        extra: dict[str, Any] = {
            "leaderboard": board_name,
            "checked": checked,
            "tags": tags,
            "models": _tag_values(tags, "Model"),
            "orgs": _tag_values(tags, "Org"),
        }
        if checked_note:
            extra["checked_note"] = checked_note
        if len(sites) > 1:
            extra["sites"] = sites
        for key in _KEPT_FIELDS:
            if isinstance(entry.get(key), str | int | float | bool):
                extra[key] = entry[key]
        raw_date = entry.get("date")
        achieved_on = parse_date(raw_date)
        if raw_date not in (None, "") and achieved_on is None:
            extra["date_raw"] = str(raw_date)
        return make_result(
            benchmark=benchmark,
            system=name,
            value=value,
            achieved_on=achieved_on,
            source_url=next((s for s in sites if clean_url(s)), sites[0] if sites else ""),
            where=where,
            extra=extra,
        )


def _checked(value: object) -> tuple[bool | None, str]:
    """``checked`` as true/false/unknown, plus the free text when the feed gave a string."""
    if isinstance(value, bool):
        return value, ""
    if isinstance(value, str):
        word = re.match(r"\s*([a-z]+)", value.lower())
        verdicts = {"true": True, "yes": True, "false": False, "no": False}
        verdict = verdicts.get(word.group(1)) if word else None
        return verdict, value.strip()
    return None, ""


def _sites(value: object) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [s.strip() for s in value if isinstance(s, str) and s.strip()]
    return []


def _tag_values(tags: list[str], kind: str) -> list[str]:
    prefix = f"{kind.lower()}:"
    values = [t.split(":", 1)[1].strip() for t in tags if t.lower().startswith(prefix)]
    return list(dict.fromkeys(values))


def _json_type(value: object) -> str:
    names: Mapping[type, str] = {dict: "object", list: "array", str: "string", bool: "boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "number" if isinstance(value, int | float) else "value")
