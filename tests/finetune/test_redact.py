"""Nothing personal or secret reaches training data; ordinary FAQ text survives."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finetune.redact import redact


@pytest.mark.parametrize(
    "text, leaked, kept",
    [
        ("Mail me at jane.doe+vpn@brightwater.example please", "jane.doe", "Mail me at"),
        ("call +44 20 7946 0958 or (555) 123-4567", "7946", "call"),
        ("reach me on +44 7700 900123: thanks", "900123", "thanks"),
        ("my card 4111 1111 1111 1111 was charged twice", "4111", "was charged twice"),
        ("card 4111-1111-1111-1111", "1111-1111", "card"),
        ("token xoxb-123456789012-abcdefghijkl works", "xoxb-1234", "works"),
        ("use sk-proj-abcdefghijklmnopqrstuvwx for the API", "abcdefghijklmnop", "for the API"),
        ("AWS key AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE", "leaked"),
        ("github ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdef", "github"),
        ("password: hunter2 is what I typed", "hunter2", "is what I typed"),
        ("api_key=9f8e7d6c5b4a", "9f8e7d6c5b4a", "api_key="),
        ("secret abcdef0123456789abcdef0123456789abcd here", "abcdef0123456789", "here"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "eyJhbGci",
            "jwt",
        ),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "DE89", "please"),
        ("my mobile is +49 151 2345 6789, thanks", "2345", "[PHONE], thanks"),
        ("employee no. 11872 here", "11872", "here"),
        ("Employee ID: BW-30981 cannot log in", "30981", "cannot log in"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "MIIEow", ""),
        # Addresses in any script (RFC 6531 local parts, internationalised domains)
        ("Schreib an jürgen.müller@beispiel.de bitte", "jürgen", "bitte"),
        ("Kontakt: info@müller.de, danke", "müller", "danke"),
        ("邮箱 张伟@公司.中国 谢谢", "张伟", "谢谢"),
        ("почта: иван@пример.рф сегодня", "иван", "сегодня"),
    ],
)
def test_pii_and_secrets_are_redacted(text, leaked, kept):
    out = redact(text)
    assert leaked not in out
    assert kept in out


@pytest.mark.parametrize(
    "text",
    [
        "You get 25 vacation days per year; carry over up to 5.",
        "Refunds take 3-5 business days.",
        "The office opens on 2026-11-23 at 9:00.",
        "Go to https://intranet.brightwater.example/it/vpn and click Reset.",
        "Version 1.2.3 of the VPN client is required.",
        "Room 101, building B, extension 42.",
    ],
)
def test_ordinary_faq_text_is_unchanged(text):
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_redaction_never_fails_and_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once
