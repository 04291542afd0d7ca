from bot.services.faithfulness import content_tokens
from bot.services.grounding import check

SOURCE = (
    'How do I reset my VPN password? Go to https://id.brightwater.example, choose "Forgot password" '
    "and follow the link we email you. After 5 failed attempts the account locks for 30 minutes; "
    "the IT helpdesk (extension 4357) can unlock it sooner."
)


def test_quoting_the_source_is_grounded():
    g = check(
        "Go to https://id.brightwater.example and choose Forgot password, then follow the emailed link.",
        SOURCE,
    )
    assert g.grounded and g.support >= 0.9


def test_invented_steps_are_not_grounded():
    g = check(
        "To reset your VPN password, download the VPN app, open settings and call your manager.", SOURCE
    )
    assert not g.grounded and "download" in g.unsupported


def test_an_invented_number_fails_even_when_words_match():
    g = check("The IT helpdesk at extension 4358 can unlock the account after 5 failed attempts.", SOURCE)
    assert not g.grounded and g.unsupported == ("4358",) and g.support > 0.8  # words fine, number invented
    assert check(
        "The IT helpdesk at extension 4357 can unlock the account after 5 failed attempts.", SOURCE
    ).grounded


def test_empty_answer_is_not_grounded():
    assert not check("", SOURCE).grounded
    assert not check("the and of", SOURCE).grounded


def test_content_words_drop_function_words_and_stem_in_the_language():
    assert content_tokens("The passwords are locking", "en") == ["password", "lock"]
    assert content_tokens("Die Passwörter werden gesperrt", "de") == ["passwort", "gesperrt"]


def test_echoing_the_question_is_not_grounded():
    parking = (
        "Is there parking at the office? The office garage has 40 spaces, booked daily in the Parkly app."
    )
    q = "Can I bring my dog to the office on Fridays?"
    g = check("Yes, I can bring my dog to the office on Fridays.", parking, q)
    assert not g.grounded and g.from_sources == 0
    assert check(
        "The office garage has 40 spaces, booked daily in the Parkly app.",
        parking,
        "Is there parking at work?",
    ).grounded
