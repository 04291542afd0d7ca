"""ROUGE-L, the answer metric of `eval answers` and the nightly fine-tune's gate, in any language.

rouge_score's own tokenizer keeps [a-z0-9] only: a Chinese answer scored 0 against itself, and a
German word lost its umlauts' letters (issue 15: no ASCII-only word pattern in evaluation)."""

import pytest

from bot.services.evaluation import rouge_l


@pytest.mark.parametrize(
    "text",
    [
        "如何申请报销？请在系统中提交发票。",
        "Die Passwörter laufen nach 90 Tagen ab.",
        "Пароль истекает через 90 дней.",
        "パスワードは90日で期限切れになります。",
        "Reset your VPN password at https://id.example.",
    ],
)
def test_an_answer_scores_one_against_itself(text):
    assert rouge_l(text, text) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "answer, reference",
    [
        ("Пароль истекает через 90 дней.", "Счёт закрывается через 90 дней."),
        ("パスワードは90日で期限切れになります。", "口座は90日で閉鎖されます。"),
    ],
)
def test_different_words_are_not_read_as_the_same_number(answer, reference):
    assert 0 < rouge_l(answer, reference) < 0.7


def test_chinese_is_compared_character_by_character():
    # Half of the reference's characters, in order: recall 0.5, precision 1.
    assert rouge_l("申请报销", "如何申请报销吗") == pytest.approx(2 * 1.0 * (4 / 7) / (1.0 + 4 / 7))
    assert rouge_l("今天天气很好", "如何申请报销") == 0.0


def test_words_are_stemmed_in_their_language():
    # Snowball German: Passwörter/Passwort share a stem; "Passw rter" (the old tokenizer) would not.
    assert rouge_l("Das Passwort läuft ab", "Die Passwörter laufen ab") > rouge_l(
        "Das Konto wird gesperrt", "Die Passwörter laufen ab"
    )
    assert (
        rouge_l("The VPN passwords expired after ninety days", "the VPN password expires after ninety days")
        == 1.0
    )
