"""PII and secret redaction, applied to every text before it becomes training data.

Regular expressions, not an NER model: the kinds that leak through support tickets (emails, phone
numbers, card numbers, API tokens and keys) have recognisable shapes, and a model download is not
allowed here. Redaction errs towards removing too much: a lost digit string costs the model nothing.
"""

from __future__ import annotations

import re

# Order matters: secrets and cards before phone numbers (their digit runs look alike).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("[EMAIL]", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    ("[SECRET]", re.compile(
        r"\b(?:xox[abposr]-[A-Za-z0-9-]{8,}"          # Slack tokens
        r"|xapp-[A-Za-z0-9-]{8,}"
        r"|sk-[A-Za-z0-9_-]{16,}"                     # OpenAI-style keys
        r"|gh[pousr]_[A-Za-z0-9]{20,}"                # GitHub tokens
        r"|AKIA[0-9A-Z]{16}"                          # AWS access key ids
        r"|AIza[0-9A-Za-z_-]{30,}"                    # Google API keys
        r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
        r")")),
    ("[SECRET]", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)),
    # key=value style credentials: keep the key name, drop the value
    ("\\1[SECRET]", re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|passcode)\s*[:=]\s*)\S+")),
    # long opaque strings (hex or base64-ish, 32+ chars with digits): very likely keys
    ("[SECRET]", re.compile(r"\b(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}={0,2}")),
    ("[CARD]", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    ("[IBAN]", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")),
]
_PHONE = re.compile(r"(?<![\w/.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?![\w/])")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    # 7+ digits, or an international prefix; dates and short ranges ("3-5 days") stay.
    if (digits >= 7 or found.startswith("+")) and not _ISO_DATE.match(found):
        return "[PHONE]"
    return found


def redact(text: str) -> str:
    for replacement, pattern in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _PHONE.sub(_phone, text)
