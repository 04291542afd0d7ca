"""Entry ids that an earlier version gave Markdown headings stay with their entries after an upgrade."""

import dataclasses

import pytest

from bot.container import Container
from bot.settings import Settings
from retrieval.faq import legacy_slug, load_faq

MARKDOWN = """## Wie ändere ich mein Passwort?
Im Identitätsportal unter "Passwort ändern"; das neue Passwort gilt sofort auch für das VPN.

## Wo finde ich meine Gehaltsabrechnung?
Im Personalportal unter Dokumente, jeweils am letzten Arbeitstag des Monats.
"""


@pytest.mark.slow
def test_an_entry_keeps_the_id_an_earlier_slug_gave_it(tmp_path, data_dir):
    faq = tmp_path / "faq.md"
    faq.write_text(MARKDOWN, encoding="utf-8")
    items = load_faq(faq)
    assert items[0].id == "wie-andere-ich-mein-passwort"
    assert items[0].former_id == "wie-ndere-ich-mein-passwort" == legacy_slug(items[0].question)
    assert items[1].former_id is None  # its slug did not change: nothing to adopt

    c = Container(Settings(data_dir=data_dir, tune_on_import=False))
    c.ensure_schema()
    # The index as the earlier version left it: the entry under its old id, with a learned phrasing.
    c.index.import_items([dataclasses.replace(items[0], id=items[0].former_id), items[1]])
    assert c.index.learn_phrasing("wie-ndere-ich-mein-passwort", "Kennwort vergessen, was tun?")

    report = c.index.import_items(load_faq(faq), prune=True)
    assert (report.added, report.updated, report.unchanged, report.pruned) == (0, 0, 2, 0)
    assert c.index.entry_ids() == {"wie-ndere-ich-mein-passwort", "wo-finde-ich-meine-gehaltsabrechnung"}
    assert c.index.search("Kennwort vergessen, was tun?", k=1)[0].id == "wie-ndere-ich-mein-passwort"

    # A fresh index takes the new ids; an item whose new id the index has is never renamed.
    fresh = Container(Settings(data_dir=tmp_path / "fresh", tune_on_import=False))
    fresh.ensure_schema()
    fresh.index.import_items(load_faq(faq))
    assert "wie-andere-ich-mein-passwort" in fresh.index.entry_ids()
    assert fresh.index.import_items(load_faq(faq)).unchanged == 2
