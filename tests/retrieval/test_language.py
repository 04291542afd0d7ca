"""Language detection and per-language analysis, on the real py3langid model, jieba and Snowball."""

import pytest

from retrieval.language import analyzer, detect_language, dominant_language, words


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How do I reset my VPN password?", "en"),
        ("Wie setze ich mein VPN-Passwort zurück?", "de"),
        ("Comment réinitialiser mon mot de passe ?", "fr"),
        ("¿Cómo restablezco mi contraseña del correo?", "es"),
        ("如何重置我的VPN密码？", "zh"),
        ("パスワードをリセットする方法", "ja"),
    ],
)
def test_detects_the_language_of_a_question(text, language):
    assert detect_language(text) == language


def test_short_or_letterless_text_takes_the_fallback():
    assert detect_language("vpn", among=["de", "en"], fallback="de") == "de"
    assert detect_language("1234 ?!", fallback="fr") == "fr"
    assert detect_language("ok") is None  # nothing to go on, and no fallback given


def test_restricting_the_candidates_settles_ambiguous_text():
    # Restricted to the FAQ's languages, the detector cannot answer with an unrelated one.
    assert detect_language("Urlaub beantragen bitte", among=["de", "en"]) == "de"


def test_words_are_unicode_and_case_folded():
    assert words("Straße ÜBER Ｆｕｌｌ-width 42") == ["strasse", "über", "full", "width", "42"]


def test_snowball_stemming_per_language():
    # plural and singular meet: "Passwörter" and "Passwort" both become "passwort"
    assert analyzer("de").tokens("Passwörter zurücksetzen") == analyzer("de").tokens("Passwort zurücksetzen")
    assert analyzer("de").tokens("Passwort") == ["passwort"]
    assert analyzer("fr").tokens("les mots de passe") == ["mot", "pass"]  # stop words gone, stemmed
    assert analyzer("en").tokens("Resetting passwords") == ["reset", "password"]


def test_chinese_is_segmented_into_words_and_other_cjk_into_bigrams():
    tokens = analyzer("zh").tokens("如何重置我的VPN密码？")
    assert tokens[:3] == ["重置", "vpn", "密码"]  # jieba's words, stop words ("如何", "我", "的") gone
    assert {"何重", "置我"} <= set(tokens) and "pn" not in tokens  # then CJK bigrams, not Latin ones
    # Two cuts of the same phrase still share tokens: jieba keeps 无线网络 whole, the bigrams do not.
    assert {"无线", "网络"} <= set(analyzer("zh").tokens("酒店有无线网络吗")) & set(
        analyzer("zh").tokens("无线 网络")
    )
    assert analyzer("ja").tokens("方法です") == ["方法", "法で", "です"]


def test_the_faq_language_is_what_most_entries_are_written_in():
    texts = ["Wie beantrage ich Urlaub?", "Wo finde ich die Gehaltsabrechnung?", "VPN reset"]
    assert dominant_language(texts) == "de"
