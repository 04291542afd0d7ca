"""Sentence-level faithfulness: real FAQ text in several languages, one test per corruption kind."""

import pytest

from bot.services.faithfulness import faithful, sentences
from bot.services.grounding import check

# The entry behind issue 16's example (a public-health FAQ), its question first as the service cites it.
WATER = (
    "Can the COVID-19 virus spread through drinking water?\n"
    "The COVID-19 virus has not been detected in drinking water. Conventional water treatment methods "
    "that use filtration and disinfection, such as those in most municipal drinking water systems, "
    "should remove or inactivate the virus that causes COVID-19."
)
VPN = (
    'How do I reset my VPN password?\nGo to https://id.brightwater.example, choose "Forgot password" and '
    "follow the link we email you. After 5 failed attempts the account locks for 30 minutes; the IT "
    "helpdesk (extension 4357, helpdesk@brightwater.example) can unlock it sooner. The helpdesk is open "
    "Monday to Friday. Ask Priya Shah in Facilities for a loan laptop."
)
FR = (
    "Comment réinitialiser mon mot de passe VPN ?\nLe mot de passe expire tous les 90 jours. "
    "Le service informatique ne réinitialise pas les mots de passe par téléphone. "
    "Utilisez le portail libre-service pour choisir un nouveau mot de passe."
)
ES = (
    "¿Cuántos días de vacaciones tengo?\nCada empleado tiene 25 días de vacaciones al año. "
    "Los días no usados no se pueden pasar al año siguiente. Solicita tus vacaciones en el portal de RR. HH."
)
DE = (
    "Wie setze ich mein VPN-Passwort zurück?\nDas Passwort läuft alle 90 Tage ab. "
    "Die IT-Abteilung setzt Passwörter nicht am Telefon zurück. "
    "Nutzen Sie das Self-Service-Portal, um ein neues Passwort zu wählen."
)
ZH = "如何重置VPN密码？\n密码每90天过期一次。信息技术部不通过电话重置密码。请使用自助服务门户设置新密码。"


def ok(answer, source, question=""):
    g = check(answer, source, question)
    assert g.grounded, g.why
    return g


def rejected(answer, source, question="", reason=None):
    g = check(answer, source, question)
    assert not g.grounded, f"accepted: {answer!r}"
    assert g.why, "a rejection says why"
    if reason:
        assert g.reason == reason, g.why
    return g


def test_the_water_example_of_issue_16_is_rejected():
    bad = (
        "The virus is not a vector for the virus. The virus is a highly contagious airborne virus "
        "that is spread through respiratory droplets."
    )
    q = "Is water a vector for the virus?"
    rejected(bad, WATER, q)
    # Its first sentence alone is made of the entry's and the question's words only: the word-level
    # guard passes it, the sentence checks see the subject and the object collapsed into one.
    g = rejected("The virus is not a vector for the virus.", WATER, q, "collapse")
    assert g.why.startswith("sentence 1") and "virus" in g.why
    rejected("The COVID-19 is not a vector for the COVID-19.", WATER, q, "collapse")
    ok("The COVID-19 virus has not been detected in drinking water.", WATER, q)


# ---------------------------------------------------------------------------------- faithful


@pytest.mark.parametrize(
    "answer,source",
    [
        (VPN.split("\n", 1)[1], VPN),  # the entry itself
        (
            "After 5 failed attempts the account locks for 30 minutes. The helpdesk is open Monday to Friday.",
            VPN,
        ),
        ("Yes, the IT helpdesk at extension 4357 can unlock the account after 5 failed attempts.", VPN),
        (
            "Le mot de passe expire tous les 90 jours. Utilisez le portail libre-service pour choisir un nouveau mot de passe.",
            FR,
        ),
        ("Le service informatique ne réinitialise pas les mots de passe par téléphone.", FR),
        (
            "Cada empleado tiene 25 días de vacaciones al año, y los días no usados no se pueden pasar al año siguiente.",
            ES,
        ),
        ("Die IT-Abteilung setzt Passwörter nicht am Telefon zurück.", DE),
        ("密码每90天过期一次。请使用自助服务门户设置新密码。", ZH),
    ],
)
def test_faithful_answers_pass(answer, source):
    ok(answer, source)


def test_sentences_split_in_any_script():
    assert sentences("Call us at 8 a.m. and we answer. U.S. citizens apply online! Really?") == [
        "Call us at 8 a.m. and we answer.",
        "U.S. citizens apply online!",
        "Really?",
    ]
    assert sentences("密码每90天过期一次。请使用自助服务门户！好吗？") == [
        "密码每90天过期一次。",
        "请使用自助服务门户!",
        "好吗?",
    ]


# ------------------------------------------------------------------------------- corruptions


@pytest.mark.parametrize(
    "answer,source",
    [
        ("The COVID-19 virus has been detected in drinking water.", WATER),  # dropped
        ("After 5 failed attempts the account does not lock.", VPN),  # added
        ("Le service informatique réinitialise les mots de passe par téléphone.", FR),
        ("Los días no usados se pueden pasar al año siguiente.", ES),
        ("Die IT-Abteilung setzt Passwörter am Telefon zurück.", DE),
        ("信息技术部通过电话重置密码。", ZH),
    ],
)
def test_negation_flipped(answer, source):
    rejected(answer, source, reason="negation")


def test_number_changed():
    rejected("After 6 failed attempts the account locks for 30 minutes.", VPN, reason="number")
    rejected("Le mot de passe expire tous les 60 jours.", FR, reason="number")
    rejected("密码每30天过期一次。", ZH, reason="number")


def test_unit_changed():
    rejected("After 5 failed attempts the account locks for 30 hours.", VPN, reason="unit")
    rejected("Cada empleado tiene 25 semanas de vacaciones al año.", ES, reason="unit")


def test_date_changed():
    rejected("The helpdesk is open Monday to Saturday.", VPN, reason="date")


def test_name_changed():
    rejected("Ask Priya Patel in Facilities for a loan laptop.", VPN, reason="name")


def test_contact_changed():
    rejected(
        "The IT helpdesk (helpdesk@brightwater.example.org) can unlock it sooner.", VPN, reason="contact"
    )
    rejected("Go to https://id.brightwater.example.net and choose Forgot password.", VPN, reason="contact")


def test_subject_and_object_swapped():
    rejected("Drinking water has not been detected in the COVID-19 virus.", WATER, reason="order")
    rejected("Le téléphone ne réinitialise pas les mots de passe par service informatique.", FR)


def test_subject_and_object_collapsed():
    rejected("Die IT-Abteilung setzt IT-Abteilung nicht am Telefon zurück.", DE)
    rejected("Utilisez le portail libre-service pour choisir un nouveau portail.", FR, reason="collapse")


def test_sentence_spliced_from_another_entry():
    rejected(
        "After 5 failed attempts the account locks for 30 minutes. Parking spaces are booked daily in the Parkly app.",
        VPN,
    )
    rejected("Le mot de passe expire tous les 90 jours. La cantine ferme à 14 heures.", FR)


def test_truncated_last_sentence():
    rejected(
        "After 5 failed attempts the account locks for 30 minutes. The helpdesk is open",
        VPN,
        reason="truncated",
    )
    rejected(
        "Cada empleado tiene 25 días de vacaciones al año. Solicita tus vacaciones en el",
        ES,
        reason="truncated",
    )


def test_repetition():
    rejected(
        "The helpdesk is open Monday to Friday. The helpdesk is open Monday to Friday.",
        VPN,
        reason="repetition",
    )
    rejected("Le mot de passe expire expire tous les tous les 90 jours.", FR, reason="repetition")


def test_the_sentence_checks_catch_what_word_level_support_passes():
    bad = "The COVID-19 is not a vector for the COVID-19."
    verdict = check(bad, WATER, "Is water a vector for the virus?")
    assert verdict.support >= 0.8  # every content word is the entry's: word-level support alone passes it
    assert not verdict.grounded and verdict.reason not in ("support", "substance")
    assert not faithful(bad, WATER, "Is water a vector for the virus?").faithful
