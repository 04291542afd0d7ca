"""A long entry's reply leads with the part that answers the question; short entries go whole."""

import numpy as np
import pytest

from bot.db.models import Answer
from bot.services.concise import LEAD_CHARS, lead, units
from retrieval.faq import FaqItem

BENEFITS = (
    "Our benefits programme covers health, dental and vision insurance for every permanent employee. "
    "Enrolment opens in November and closes on the last Friday of that month. "
    "Dependants can be added during enrolment or within thirty days of a life event such as a birth. "
    "Dental cover includes two cleanings a year and fillings at a shared cost. "
    "Vision cover pays for one eye test a year and a contribution towards glasses. "
    "The gym subsidy refunds half of a monthly membership, up to forty euros, against a receipt. "
    "Pension contributions are matched up to five percent of the base salary. "
    "Questions about any of this go to the people team in the HR portal."
)


def _close_to(target: int):
    """A scorer that finds unit ``target`` closest and the others the farther the more distant."""
    return lambda q, parts: np.array([-abs(i - target) for i in range(len(parts))], float)


def test_a_short_answer_goes_out_whole():
    assert lead("q", "Reset it in the portal. Then log in again.", _close_to(0)) is None


def test_the_lead_is_the_closest_unit_with_neighbours_in_order_within_the_limit():
    parts = units(BENEFITS)
    assert len(parts) == 8
    found = lead("gym", BENEFITS, _close_to(5))
    assert found is not None and found.start <= 5 < found.stop
    assert len(found.text) <= LEAD_CHARS and found.text == " ".join(parts[found.start : found.stop])
    assert found.stop - found.start >= 2  # with its context, not a lone sentence
    assert lead("gym", BENEFITS, _close_to(5), lead_chars=10_000) is None  # it all fits: nothing to cut


def test_lines_are_units_even_without_full_stops():
    text = "How to apply\nOnline at the portal\nBy phone on weekdays\n" + "More details follow. " * 30
    assert units(text)[:3] == ["How to apply", "Online at the portal", "By phone on weekdays"]


@pytest.fixture
def long_faq(container):
    container.settings.generation = "never"  # the FAQ text, as day 0 serves it
    from retrieval.faq import load_faq
    from tests.support import SAMPLE_FAQ

    sample = [it for it in load_faq(SAMPLE_FAQ) if it.id != "vpn-password-reset"]
    container.index.import_items(
        [
            *sample,
            FaqItem(id="benefits", question="What benefits do employees get?", answer=BENEFITS),
            FaqItem(
                id="vpn", question="How do I reset my VPN password?", answer="Use the self-service portal."
            ),
        ]
    )
    return container


@pytest.mark.slow
def test_a_long_entry_is_answered_with_its_lead_on_the_real_embedder(long_faq):
    r = long_faq.answers.ask("What benefits do employees get for gym memberships?")
    assert r.sources[0]["id"] == "benefits" and r.mode == "faq" and r.shortened
    assert "gym subsidy" in r.answer and len(r.answer) < len(BENEFITS) / 2
    assert r.answer in " ".join(units(BENEFITS))  # the entry's own sentences, in order
    with long_faq.sessions() as s:
        assert s.get(Answer, r.answer_id).text == r.answer  # what was served is what is stored
    assert long_faq.answers.cited_entry(r.answer_id).answer == BENEFITS  # the whole entry, a click away

    other = long_faq.answers.ask("When does benefits enrolment close?")
    assert other.shortened and "last Friday" in other.answer and "gym" not in other.answer


@pytest.mark.slow
def test_a_short_entry_and_the_setting_off_send_the_entry_whole(long_faq):
    r = long_faq.answers.ask("my vpn password is not accepted")
    assert (r.answer, r.shortened) == ("Use the self-service portal.", False)
    long_faq.settings.long_answer_chars = 0
    r = long_faq.answers.ask("What benefits do employees get for gym memberships?")
    assert (r.answer, r.shortened) == (BENEFITS, False)


def test_a_question_the_embedder_does_not_read_is_led_by_its_words(container):
    """German, with the English embedder: the lead is chosen by stemmed words, not by MiniLM."""
    container.settings.generation = "never"
    text = (
        "Unsere Leistungen umfassen eine Krankenversicherung für alle festen Mitarbeitenden. "
        "Die Anmeldung beginnt im November und endet am letzten Freitag des Monats. "
        "Angehörige können während der Anmeldung hinzugefügt werden. "
        "Der Zuschuss zum Fitnessstudio erstattet die Hälfte des Monatsbeitrags gegen Beleg. "
        "Die Betriebsrente wird bis zu fünf Prozent des Grundgehalts aufgestockt. "
        "Zahnärztliche Leistungen umfassen zwei Reinigungen im Jahr. "
        "Ein Sehtest pro Jahr wird ebenfalls bezahlt. "
        "Fragen dazu beantwortet das Personalteam im Portal."
    )
    container.index.import_items(
        [
            FaqItem(id="leistungen", question="Welche Leistungen bekommen Mitarbeitende?", answer=text),
            FaqItem(id="vpn", question="Wie setze ich mein VPN-Passwort zurück?", answer="Im Portal."),
        ]
    )
    assert len(text) > 500
    r = container.answers.ask("Bekomme ich einen Zuschuss für das Fitnessstudio?")
    assert r.sources[0]["id"] == "leistungen" and r.shortened
    assert "Fitnessstudio" in r.answer and len(r.answer) <= LEAD_CHARS
