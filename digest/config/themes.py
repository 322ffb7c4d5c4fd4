"""Theme definitions in config.toml: what the tagger compiles (see digest/tagging)."""

from __future__ import annotations

import re

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from digest.config.sections import ID, Section


class RuleSettings(Section):
    """A co-occurrence rule: term groups that must (or must not) meet in one sentence."""

    all: list[str] = Field(
        default_factory=list, description="Term groups that must all appear in the sentence."
    )
    any: list[str] = Field(
        default_factory=list, description="Term groups of which at least `min_any` must appear."
    )
    min_any: int = Field(1, ge=1, description="How many different `any` groups must appear.")
    none: list[str] = Field(
        default_factory=list, description="Term groups that stop the rule when they appear."
    )
    weight: float = Field(gt=0, le=5, description="What a sentence matching the rule adds.")

    @model_validator(mode="after")
    def _needs_terms(self) -> RuleSettings:
        if not self.all and not self.any:
            raise ValueError("a rule needs term groups in `all` or `any`")
        if self.any and self.min_any > len(self.any):
            raise ValueError(
                f"min_any = {self.min_any} but `any` names only {len(self.any)} term groups"
            )
        return self


class ThemeSettings(Section):
    """One theme; the tagger compiles these into matchers (see digest/tagging).

    A wording matches whatever its case, its inflections ("launch" also finds "launched"),
    hyphens or spaces, possessives and HTML entities. Written all in capitals ("US") it
    matches only capitals; in double quotes it matches exactly that form; between slashes
    (/Hwasong-?\\d+/) it is a regular expression, matched without regard to case.
    """

    label: str = Field(description="Name shown to readers.")
    description: str = Field("", description="What belongs in the theme, for people.")
    threshold: float = Field(0.5, gt=0, le=1, description="Score at which an item is tagged.")
    title_weight: float = Field(
        1.5, ge=0, description="Multiplier for what a match in the title adds."
    )
    context: list[str] = Field(
        default_factory=list,
        description="Wordings or term group names; an item mentioning none of them scores 0.",
    )
    terms: dict[str, list[str]] = Field(
        default_factory=dict, description="Named groups of wordings that rules combine."
    )
    rules: list[RuleSettings] = Field(
        default_factory=list,
        description="Co-occurrence rules; each sentence adds the weight of its best rule.",
    )
    phrases: dict[str, float] = Field(
        default_factory=dict, description="Wording = weight a sentence containing it adds."
    )
    patterns: dict[str, float] = Field(
        default_factory=dict, description="Regular expression = weight (e.g. 'Hwasong-\\d+')."
    )
    aliases: dict[str, list[str]] = Field(
        default_factory=dict, description="Wording = other wordings that count as it anywhere."
    )
    exclusions: dict[str, float] = Field(
        default_factory=dict,
        description="Wording = weight taken off its sentence; its words count for nothing else.",
    )

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, float]) -> dict[str, float]:
        for pattern, weight in value.items():
            _check_regex(pattern)
            if weight <= 0:
                raise ValueError(f'"{pattern}" = {weight}: a weight must be above 0')
        return value

    @field_validator("phrases")
    @classmethod
    def _phrase_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for phrase, weight in value.items():
            _check_wording(phrase)
            if weight <= 0:
                raise ValueError(f'"{phrase}" = {weight}: a weight must be above 0')
        return value

    @field_validator("exclusions")
    @classmethod
    def _exclusion_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for phrase, weight in value.items():
            _check_wording(phrase)
            if weight < 0:
                raise ValueError(f'"{phrase}" = {weight}: a weight cannot be negative')
        return value

    @field_validator("terms")
    @classmethod
    def _term_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, wordings in value.items():
            if not ID.match(name):
                raise ValueError(
                    f'"{name}" is not a group name; expected lowercase letters, digits, - and _'
                )
            if not wordings:
                raise ValueError(f'"{name}" is empty; list at least one wording')
            for wording in wordings:
                _check_wording(wording, where=f"{name}: ")
        return value

    @field_validator("aliases")
    @classmethod
    def _alias_wordings(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for phrase, wordings in value.items():
            for wording in wordings:
                _check_wording(wording, where=f'"{phrase}": ')
        return value

    @model_validator(mode="after")
    def _references(self) -> ThemeSettings:
        problems: list[str] = []
        groups = ", ".join(self.terms) or "none are defined"
        for i, rule in enumerate(self.rules):
            for key in ("all", "any", "none"):
                for name in getattr(rule, key):
                    if name not in self.terms:
                        problems.append(
                            f'rules[{i}].{key}: "{name}" is not a term group; expected one of '
                            + groups
                        )
        for wording in self.context:
            if wording not in self.terms:
                _check_wording(wording, where="context: ")
        used = {*self.phrases, *self.exclusions, *self.context}
        used.update(w for wordings in self.terms.values() for w in wordings)
        for phrase in self.aliases:
            if phrase not in used:
                problems.append(
                    f'aliases: "{phrase}" is not a phrase, term, context word or exclusion '
                    "of this theme, so its aliases would never count"
                )
        if not (self.rules or self.phrases or self.patterns):
            problems.append("the theme has no rules, phrases or patterns, so nothing can match")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _check_wording(wording: str, *, where: str = "") -> None:
    """Reject wordings that can never match: empty ones and broken regular expressions."""
    if len(wording) > 2 and wording.startswith("/") and wording.endswith("/"):
        _check_regex(wording[1:-1], where=where)
    elif not re.search(r"\w", wording):
        raise ValueError(f'{where}"{wording}" has no letters or digits, so it cannot match')


def _check_regex(pattern: str, *, where: str = "") -> None:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f'{where}"{pattern}" is not a regular expression ({exc})') from None
    if compiled.match(""):
        raise ValueError(f'{where}"{pattern}" matches empty text; it would match everywhere')
