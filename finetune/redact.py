"""PII and secret redaction, applied to every text before it becomes training data.

Regular expressions, not an NER model: the kinds that leak through support tickets (emails, phone
numbers, card numbers, API tokens and keys) have recognisable shapes, and a model download is not
allowed here. Redaction errs towards removing too much: a lost digit string costs the model nothing.
"""

from __future__ import annotations

import re

# Order matters: secrets and cards before phone numbers (their digit runs look alike).
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Letters of any script (\w is Unicode): "jürgen@müller.de" and "张伟@公司.中国" are addresses too
    # (RFC 6531, internationalised domains). In unspaced Chinese the match may take a neighbouring
    # word with it; removing too much is the side to err on.
    ("[EMAIL]", re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")),
    (
        "[SECRET]",
        re.compile(
            r"\b(?:xox[abposr]-[A-Za-z0-9-]{8,}"  # Slack tokens
            r"|xapp-[A-Za-z0-9-]{8,}"
            r"|sk-[A-Za-z0-9_-]{16,}"  # OpenAI-style keys
            r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
            r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
            r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
            r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWTs
            r")"
        ),
    ),
    ("[SECRET]", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)),
    # key=value style credentials: keep the key name, drop the value
    (
        "\\1[SECRET]",
        re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|passcode)\s*[:=]\s*)\S+"),
    ),
    # long opaque strings (hex or base64-ish, 32+ chars with digits): very likely keys
    (
        "[SECRET]",
        re.compile(r"\b(?=[A-Za-z0-9+/_-]*\d)(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{32,}={0,2}"),
    ),
    ("[IBAN]", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")),
    # international phone numbers before cards: "+49 151 2345 6789" is a phone, not a card
    ("[PHONE]", re.compile(r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,5}(?![\w/])")),
    ("[CARD]", re.compile(r"\b(?:\d[ -]?){12,18}\d\b")),
    (
        "[EMPLOYEE_ID]",
        re.compile(
            r"(?i)\b(?:employee|staff|personnel)\s*(?:id|no\.?|number|#)\s*[:#]?\s*[A-Z0-9-]*\d[A-Z0-9-]*"
        ),
    ),
]
_PHONE = re.compile(
    r"(?<![\w/.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,6}){1,4}(?![\w/])"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(ch.isdigit() for ch in found)
    # 7+ digits, or an international prefix; dates and short ranges ("3-5 days") stay.
    if (digits >= 7 or found.startswith("+")) and not _ISO_DATE.match(found):
        return "[PHONE]"
    return found


def redact(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Replace personal data and secrets with placeholders. ``keep``: strings that are public
    company content (the support desk's email and phone in the FAQ) and stay as written."""
    if keep:
        # Shield kept strings from the patterns; restored at the end.
        shields = {f"\x00{i}\x00": k for i, k in enumerate(sorted(keep, key=len, reverse=True))}
        for mark, k in shields.items():
            text = text.replace(k, mark)
    for replacement, pattern in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = _PHONE.sub(_phone, text)
    if keep:
        for mark, k in shields.items():
            text = text.replace(mark, k)
    return text


def public_contacts(texts: list[str]) -> frozenset[str]:
    """Emails and phone numbers published in company texts (the FAQ): not personal data."""
    found = set()
    for text in texts:
        found.update(m.group(0) for m in _PATTERNS[0][1].finditer(text))
        found.update(m.group(0) for m in _PHONE.finditer(text) if _phone(m) == "[PHONE]")
    return frozenset(found)
