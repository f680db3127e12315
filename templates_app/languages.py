"""Language tags: one canonical spelling (pt-BR, zh-Hant-TW) and the fallback chain pt-BR -> pt -> default."""

import re

from django.conf import settings

# BCP-47-ish: a 2-3 letter primary subtag, then subtags of 2-8 letters or digits.
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
LANGUAGE_MAX_LENGTH = 16


def language_normalize(*, language: str) -> str:
    """The canonical case of a tag: primary lower, 4-letter script Title, 2-letter region upper, rest lower.

    Only the case changes; the caller validates the result with `language_is_valid`.
    """
    subtags = language.strip().split("-")
    normalized = [subtags[0].lower()]
    for subtag in subtags[1:]:
        if len(subtag) == 2 and subtag.isalpha():
            normalized.append(subtag.upper())
        elif len(subtag) == 4 and subtag.isalpha():
            normalized.append(subtag.title())
        else:
            normalized.append(subtag.lower())
    return "-".join(normalized)


def language_is_valid(*, language: str) -> bool:
    return len(language) <= LANGUAGE_MAX_LENGTH and LANGUAGE_RE.fullmatch(language) is not None


def language_default() -> str:
    return language_normalize(language=settings.DEFAULT_LANGUAGE)


def language_fallback_chain(*, language: str | None) -> list[str]:
    """The languages to try, most specific first: zh-Hant-TW -> zh-Hant -> zh -> the default language.

    None, or a tag that is not a valid language, means the default language alone.
    """
    default = language_default()
    if language is None:
        return [default]
    normalized = language_normalize(language=language)
    if not language_is_valid(language=normalized):
        return [default]
    subtags = normalized.split("-")
    chain = ["-".join(subtags[:length]) for length in range(len(subtags), 0, -1)]
    if default not in chain:
        chain.append(default)
    return chain
