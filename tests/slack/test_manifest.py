"""The Slack app manifest asks for exactly what the listeners use."""

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def test_manifest_matches_the_listeners():
    m = yaml.safe_load(MANIFEST.read_text())
    assert set(m["oauth_config"]["scopes"]["bot"]) == {
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "im:write",
        "chat:write",
        "commands",
        "usergroups:read",
    }
    events = set(m["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_home_opened", "app_mention", "message.channels", "message.groups", "message.im"}
    assert [c["command"] for c in m["features"]["slash_commands"]] == ["/ask"]
    assert m["settings"]["interactivity"]["is_enabled"] and m["features"]["app_home"]["home_tab_enabled"]
    # every URL is the one route the HTTP transport serves
    urls = {
        m["settings"]["event_subscriptions"]["request_url"],
        m["settings"]["interactivity"]["request_url"],
        m["settings"]["interactivity"]["message_menu_options_url"],  # the entry picker's options
        m["features"]["slash_commands"][0]["url"],
    }
    assert {u.rsplit("/", 2)[-2:] == ["slack", "events"] for u in urls} == {True}
