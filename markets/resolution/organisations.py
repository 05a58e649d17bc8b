"""Which organisation a benchmark result belongs to, and which multiple-choice option that is
(docs/methods.md §8.10).

A result's organisation is, in order:

1. ``extra["organisation"]`` (or ``extra["organization"]``) when the feed or staff give it;
2. the feed's own organisation tags: SWE-bench's ``"Org: …"`` tags, kept by its parser as
   ``extra["orgs"]``, when they name one organisation (several tags that are aliases of one
   organisation count as one);
3. the system's name, by the prefixes of ``ORGANISATIONS`` (METR's ``claude_opus_4_6_inspect``,
   Epoch's ``gpt-4o-2024-05-13``, SWE-bench's ``Claude 4.5 Opus medium (20251101)``);
4. SWE-bench's ``"Model: …"`` tags (``extra["models"]``), by the same prefixes, when they name
   one organisation.

Otherwise the organisation is unknown and the rule flags the question for staff.

An organisation matches an option whose label equals it, ignoring case and surrounding
spaces, or equals another name of the same organisation in ``ORGANISATIONS`` (option
"Google" matches "Google DeepMind"); failing that, an option labelled "Other" (any case).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Organisation:
    """One organisation: its display name, other names it goes by (feed tags, option labels) and
    the prefixes of its systems' names (normalised: lower case, runs of spaces, ``_`` and ``.``
    as one ``-``)."""

    name: str
    aliases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


ORGANISATIONS: tuple[Organisation, ...] = (
    Organisation("Anthropic", (), ("claude",)),
    Organisation(
        "OpenAI",
        ("Open AI",),
        ("gpt", "chatgpt", "o1", "o3", "o4", "davinci", "text-davinci", "codex"),
    ),
    Organisation("Google DeepMind", ("Google", "DeepMind"), ("gemini", "gemma")),
    Organisation("Meta", ("Meta AI", "Facebook"), ("llama", "meta-llama")),
    Organisation(
        "Mistral AI", ("Mistral",), ("mistral", "mixtral", "codestral", "devstral", "magistral")
    ),
    Organisation("Alibaba", ("Qwen", "Alibaba Cloud"), ("qwen", "qwq")),
    Organisation("DeepSeek", (), ("deepseek",)),
    Organisation("xAI", (), ("grok",)),
    Organisation("Moonshot AI", ("Moonshot",), ("kimi",)),
    Organisation("Zhipu AI", ("Z.ai", "Zhipu"), ("glm",)),
    Organisation("Amazon", ("AWS", "Amazon Nova"), ("nova", "amazon-nova")),
    Organisation("MiniMax", (), ("minimax",)),
)

OTHER = "other"

_SEPARATORS = re.compile(r"[\s_.]+")


def _normalise(name: str) -> str:
    return _SEPARATORS.sub("-", name.strip().lower()).strip("-")


def _fold(label: str) -> str:
    return " ".join(label.split()).casefold()


_BY_NAME: dict[str, Organisation] = {
    _fold(alias): org for org in ORGANISATIONS for alias in (org.name, *org.aliases)
}


def organisation_named(name: str) -> Organisation | None:
    """The organisation that ``name`` (a display name or alias, any case) is, or None."""
    return _BY_NAME.get(_fold(name))


def organisation_of_system(system: str) -> str | None:
    """The organisation whose prefix starts ``system``'s normalised name, followed by the end,
    ``-`` or a digit ("gpt4", "o1-preview", but not "o1x" or "claudette"); None if none does."""
    name = _normalise(system)
    for org in ORGANISATIONS:
        for prefix in org.prefixes:
            if name.startswith(prefix):
                rest = name[len(prefix) :]
                if not rest or rest[0] == "-" or rest[0].isdigit():
                    return org.name
    return None


def _one(names: Sequence[str]) -> str | None:
    """The one organisation that ``names`` (feed tags) denote, or None when none or several."""
    found: set[str] = set()
    shown: str | None = None
    for name in names:
        org = organisation_named(name)
        found.add(org.name if org is not None else _fold(name))
        shown = org.name if org is not None else name.strip()
    return shown if len(found) == 1 else None


def organisation_of(system: str, extra: dict[str, Any] | None) -> str | None:
    """The organisation of a result (``system`` and its ``extra``) by the order in the module
    docstring, or None when it is unknown or ambiguous."""
    extra = extra or {}
    for key in ("organisation", "organization"):
        given = extra.get(key)
        if isinstance(given, str) and given.strip():
            return given.strip()
    orgs = [o for o in extra.get("orgs") or [] if isinstance(o, str) and o.strip()]
    if orgs:
        return _one(orgs)
    by_name = organisation_of_system(system)
    if by_name is not None:
        return by_name
    models = [m for m in extra.get("models") or [] if isinstance(m, str)]
    by_model = {organisation_of_system(m) for m in models}
    if len(by_model) == 1:
        return by_model.pop()
    return None


def option_for(organisation: str, options: Sequence[str]) -> int | None:
    """The index of the option ``organisation`` matches (module docstring): its own name, the
    same organisation under another name, else "Other"; None when no option fits."""
    wanted = _fold(organisation)
    org = organisation_named(organisation)
    names = {wanted} | ({_fold(n) for n in (org.name, *org.aliases)} if org is not None else set())
    folded = [_fold(label) for label in options]
    for i, label in enumerate(folded):
        if label == wanted:
            return i
    for i, label in enumerate(folded):
        if label in names:
            return i
    for i, label in enumerate(folded):
        if label == OTHER:
            return i
    return None
