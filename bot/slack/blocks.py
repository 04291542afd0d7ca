"""Slack's text formatting, both ways, and every message and view the bot sends: built here, nowhere else.

Slack reads ``&``, ``<`` and ``>`` in any mrkdwn text, the top-level ``text`` of a message included, as
control sequences: ``<!channel>`` pings a whole channel, ``<https://evil.example|click here>`` is a
disguised link, ``<@U123>`` a mention. So text from askers, agents, admins, FAQ files and the model is
escaped before it is shown, and only what the bot composes here on purpose (its asker's mention, the
FAQ link it cites, a permalink) is a live control sequence.

``Mrkdwn`` marks text that is safe to send as it is. Everything else is escaped when it is put into a
``Mrkdwn`` (``mrkdwn("{} asked", user)``, ``+``, ``join``), when it is put into a block
(``section``, ``context``), and finally at the Web API (``bot.slack.bot.SafeWebClient``), so
untrusted text cannot reach Slack unescaped and escaped text is never escaped twice.

Incoming text is the reverse: Slack sends a message's text in the same encoding, so ``plain`` decodes
it (``&amp;`` is ``&``, ``<!here>`` is the words ``@here``) before it is stored, retrieved on or relayed.
"""

from __future__ import annotations

import re
import string
import urllib.parse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bot.services.stats import SupportStats

# Slack's limits: a section's text is at most 3,000 characters, a message's text 40,000.
SECTION_LIMIT = 3000
MESSAGE_LIMIT = 40_000
Blocks = list[dict[str, Any]]

# action_ids, shared with the listeners
HELPFUL, NOT_HELPFUL, HANDOFF = "feedback_helpful", "feedback_not_helpful", "handoff_request"
WHOLE_ENTRY = "whole_entry"  # under an answer that is the lead of a long entry: show the whole entry
APPROVE, EDIT, REJECT = "review_approve", "review_edit", "review_reject"
GAP_PUBLISH, GAP_DISMISS = "gap_publish", "gap_dismiss"  # App Home: a knowledge gap's draft entry
# ... and its editor: the draft's question and answer, published as written on submit
GAP_EDIT, GAP_MODAL = "gap_edit", "gap_edit_modal"
GAP_QUESTION_BLOCK, GAP_QUESTION_INPUT = "gap_question", "gap_question_input"
GAP_ANSWER_BLOCK, GAP_ANSWER_INPUT = "gap_answer", "gap_answer_input"
# Entry pickers (external_select, options served by the bot): the answer cited the wrong entry;
# the bot abstained and an existing entry answers it.
CORRECT, ATTACH = "review_correct", "review_attach"
OPTION_LIMIT = 75  # characters of an option's text and description
EDIT_MODAL, EDIT_INPUT_BLOCK, EDIT_INPUT = "review_edit_modal", "edited_answer", "edited_answer_input"


# ------------------------------------------------------------------------------------------ mrkdwn
class Mrkdwn(str):
    """Text that may be sent to Slack as mrkdwn as it is: untrusted parts escaped, controls intended.

    Constructing one directly vouches for the text; do that only for literals written here.
    (markupsafe's ``Markup`` is the same idea for HTML, but escapes quotes to entities Slack shows
    literally, and its ``__html__`` would make Slack text pass as safe HTML.)
    """

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(escape(other), self))

    def join(self, parts: Iterable[str]) -> Mrkdwn:
        return Mrkdwn(str.join(self, [escape(p) for p in parts]))

    def format(self, *args: Any, **kwargs: Any) -> Mrkdwn:
        return Mrkdwn(_FORMATTER.vformat(self, args, kwargs))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        return escape(format(value, format_spec))


_FORMATTER = _EscapingFormatter()
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile("[&<>]")


def escape(text: object) -> Mrkdwn:
    """Slack mrkdwn: ``&``, ``<`` and ``>`` become entities, as Slack documents; ``Mrkdwn`` is kept."""
    if isinstance(text, Mrkdwn):
        return text
    return Mrkdwn(_SPECIAL.sub(lambda m: _ENTITIES[m.group(0)], str(text)))


def mrkdwn(template: str, *args: Any, **kwargs: Any) -> Mrkdwn:
    """``template`` (a literal: trusted) with its fields filled in escaped, unless they are ``Mrkdwn``."""
    return Mrkdwn(template).format(*args, **kwargs)


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def user(user_id: str) -> Mrkdwn:
    """A mention the bot means to make; anything that is not a Slack user id is shown as text."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id or "") else escape(user_id or "someone")


def channel(channel_id: str) -> Mrkdwn:
    if _CONVERSATION_ID.fullmatch(channel_id or "") and not channel_id.startswith("D"):
        return Mrkdwn(f"<#{channel_id}>")
    return Mrkdwn("a direct message")


def link(url: str | None, label: str) -> Mrkdwn:
    """A link the bot composes (a cited FAQ entry, a permalink): http(s) only, else just the label.

    The URL cannot end the control sequence early: ``|``, ``<``, ``>`` and blanks are percent-encoded,
    ``&`` is escaped as Slack expects inside links."""
    url = (url or "").strip()
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        return escape(label)
    safe = urllib.parse.quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")
    return Mrkdwn(f"<{escape(safe)}|{escape(label)}>")


def clip(text: str, limit: int) -> Mrkdwn:
    """At most ``limit`` characters, never cutting an entity (``&amp;``) or a control (``<@U1>``) in two."""
    text = escape(text)
    if len(text) <= limit:
        return text
    cut = str.__getitem__(text, slice(0, limit - 1))
    amp, lt = cut.rfind("&"), cut.rfind("<")
    if amp > cut.rfind(";"):
        cut = cut[:amp]
    if lt > cut.rfind(">"):
        cut = cut[:lt]
    return Mrkdwn(cut + "…")


# Slack's controls in incoming text: <@U1>, <@U1|name>, <#C1|general>, <!here>, <!subteam^S1|@team>,
# <!date^1392734382^{date}|Feb 18, 2014>, <https://x.example|label>, <mailto:a@b.example|a@b.example>.
_CONTROL = re.compile(r"<([^<>\n]*)>")
_DECODE = re.compile("&(amp|lt|gt);")


def plain(slack_text: str) -> str:
    """Text as Slack sent it (a message, a slash command) as the words its author sees.

    Mentions become ``@name``, channel links ``#name``, a link ``label (url)`` so the target shows,
    and ``&amp;``, ``&lt;``, ``&gt;`` the characters they stand for."""

    def control(m: re.Match) -> str:
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label.lstrip("@") or target[1:])
        if target.startswith("#"):
            return "#" + (label.lstrip("#") or target[1:])
        if target.startswith("!"):
            name = target[1:].split("^", 1)[0]
            if name in ("here", "channel", "everyone"):
                return "@" + name
            if name == "subteam":
                return "@" + (label.lstrip("@") or target.split("^", 1)[-1])
            return label or name
        shown = target.split(":", 1)[1] if target.startswith(("mailto:", "tel:")) else target
        return f"{label} ({target})" if label and label not in (target, shown) else shown

    decoded = _CONTROL.sub(control, slack_text or "")
    return _DECODE.sub(lambda m: {"amp": "&", "lt": "<", "gt": ">"}[m.group(1)], decoded)


class Post(NamedTuple):
    """A message: its ``text`` (notifications, and what clients without blocks show) and its blocks."""

    text: Mrkdwn
    blocks: Blocks | None = None

    def args(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": clip(self.text, MESSAGE_LIMIT)}
        if self.blocks is not None:
            out["blocks"] = self.blocks
        return out


def note(text: str) -> Post:
    """A one-line message with no blocks (an ephemeral reply, a relayed message)."""
    return Post(escape(text))


# ------------------------------------------------------------------------------------------ blocks
def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT) or Mrkdwn(" ")}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 2000)}]}


def plain_text(text: str, limit: int = 75) -> dict:
    """Plain text (buttons, titles): Slack shows it literally and reads no controls in it."""
    return {"type": "plain_text", "text": text[:limit]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {"type": "button", "text": plain_text(text), "action_id": action_id, "value": value}
    if style:
        b["style"] = style
    return b


def source_line(sources: list[dict], limit: int = 3) -> Mrkdwn:
    shown = []
    for s in sources[:limit]:
        title = s.get("question") or s["id"]
        shown.append(link(s["url"], title) if s.get("url") else mrkdwn("{} (`{}`)", title, s["id"]))
    return Mrkdwn("Sources: ") + Mrkdwn(" · ").join(shown) if shown else Mrkdwn("")


THINKING_TEXT = Mrkdwn(":hourglass_flowing_sand: Looking that up in the FAQ…")
DRAFTING_TEXT = Mrkdwn(":pencil: Drafting an answer from the FAQ…")
HANDOFF_TEXT = Mrkdwn(":raising_hand: I've asked the support team. Someone will reply in this thread.")


def thinking() -> Post:
    return Post(THINKING_TEXT)


def handed_off() -> Post:
    return Post(HANDOFF_TEXT)


def drafting(words: int) -> Post:
    """Progress while the model writes. Never its words: they are shown once the grounding guard has
    checked them against the FAQ, or replaced by the FAQ's own answer if they fail."""
    return Post(
        DRAFTING_TEXT,
        [
            section(mrkdwn("{} ({} words so far)", DRAFTING_TEXT, words)),
            context(Mrkdwn("_drafting… checked against the FAQ before you see it_")),
        ],
    )


def queued(ahead: int) -> Post:
    note_ = mrkdwn(
        ":hourglass: Busy right now: {} question{} ahead of yours.", ahead, "s" if ahead != 1 else ""
    )
    return Post(note_, [section(note_)])


ANSWER_MODES = {
    "generated": "Phrased by the assistant from the FAQ",
    "faq": "From the FAQ, as written",
    "abstain": "Not in the FAQ",
}


def how_answered(mode: str, why: str = "") -> str:
    """How an answer was made, in words (the answer's footer, the review post)."""
    said = ANSWER_MODES.get(mode, mode)
    return f"{said}: {why}" if why else said


def answer(
    text: str,
    answer_id: int,
    sources: list[dict],
    *,
    abstained: bool,
    mode: str = "",
    shortened: bool = False,
) -> Post:
    blocks = [section(text)]
    if not abstained and sources:
        line = source_line(sources[:1])
        if mode in ANSWER_MODES:  # askers see whether the assistant phrased it or the FAQ says it
            line = mrkdwn("{} · ", ANSWER_MODES[mode]) + line
        blocks.append(context(line))
    value = str(answer_id)
    buttons = [button("Talk to a human", HANDOFF, value)]
    if not abstained:
        buttons = [
            button(":thumbsup: Helpful", HELPFUL, value),
            button(":thumbsdown: Not helpful", NOT_HELPFUL, value),
            *([button("Whole entry", WHOLE_ENTRY, value)] if shortened else []),
            *buttons,
        ]
    blocks.append({"type": "actions", "block_id": f"feedback-{answer_id}", "elements": buttons})
    return Post(escape(text), blocks)


def handoff_request(
    user_id: str,
    channel_id: str,
    question: str,
    bot_answer: str | None,
    reason: str,
    permalink: str | None = None,
    *,
    requested_by: str | None = None,
) -> Post:
    asker = user(user_id)
    if reason == "abstain":
        why = Mrkdwn("the bot found nothing in the FAQ")
    elif requested_by and requested_by != user_id:  # a colleague in the thread pressed the button
        why = mrkdwn("{} asked for a human for them", user(requested_by))
    else:
        why = Mrkdwn("they asked for a human")
    blocks = [
        section(
            mrkdwn(
                ":raising_hand: {} needs help ({}), in {}:\n>{}", asker, why, channel(channel_id), question
            )
        )
    ]
    if bot_answer:
        blocks.append(context(mrkdwn("The bot answered: {}", clip(bot_answer, 500))))
    reply = Mrkdwn("Reply in this thread: your replies are relayed to the asker, and theirs to you.")
    if permalink:
        reply += Mrkdwn(" ") + link(permalink, "Open their thread")
    blocks.append(context(reply))
    return Post(mrkdwn("{} needs help: {}", asker, clip(question, 2000)), blocks)


def asked(user_id: str, question: str) -> Post:
    """A /ask question, posted in the channel so it can be answered in its thread."""
    return Post(mrkdwn("{} asked: {}", user(user_id), clip(question, 3000)))


def relayed(author: str, text: str, *, from_support: bool) -> Post:
    label = "from the support team" if from_support else "from the asker"
    return Post(mrkdwn("*{}* ({}):\n{}", user(author), label, text))


def entry_picker(action_id: str, placeholder: str) -> dict:
    """A menu of FAQ entries with type-ahead; the bot serves its options (listeners/options.py)."""
    return {
        "type": "external_select",
        "action_id": action_id,
        "placeholder": plain_text(placeholder, 150),
        "min_query_length": 0,  # opened with nothing typed: the nearest entries
    }


def entry_options(choices: list[tuple[str, str]]) -> list[dict]:
    """(entry id, question) as the picker's options: the question, the id beneath it."""
    return [
        {
            "text": plain_text(clip_plain(question or entry_id), OPTION_LIMIT),
            "value": entry_id[:150],
            "description": plain_text(clip_plain(entry_id), OPTION_LIMIT),
        }
        for entry_id, question in choices
    ]


def clip_plain(text: str, limit: int = OPTION_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def review_actions(answer_id: int, block_id: str, *, abstained: bool) -> dict:
    """The review buttons. An answer: approve, edit & approve, the right entry instead, reject.
    An abstention: attach it to an existing entry, write a new one, reject."""
    value = str(answer_id)
    if abstained:
        elements = [
            entry_picker(ATTACH, "Attach to an FAQ entry…"),
            button("Write a new entry", EDIT, value, "primary"),
            button("Reject", REJECT, value, "danger"),
        ]
    else:
        elements = [
            button("Approve", APPROVE, value, "primary"),
            button("Edit & approve", EDIT, value),
            entry_picker(CORRECT, "Wrong entry? Pick the right one…"),
            button("Reject", REJECT, value, "danger"),
        ]
    return {"type": "actions", "block_id": block_id, "elements": elements}


def review_request(
    answer_id: int,
    question: str,
    text: str,
    sources: list[dict],
    reason: str,
    asker: str | None,
    *,
    abstained: bool = False,
    how: str = "",
) -> Post:
    head = (
        mrkdwn("*Review* ({}) — question from {}:", reason, user(asker))
        if asker
        else mrkdwn("*Review* ({}):", reason)
    )
    blocks = [section(mrkdwn("{}\n>{}", head, question)), section(mrkdwn("*Answer:*\n{}", text))]
    if sources:
        blocks.append(context(source_line(sources)))
    if how:
        blocks.append(context(mrkdwn("_{}_", how)))
    blocks.append(review_actions(answer_id, f"review-{answer_id}", abstained=abstained))
    return Post(mrkdwn("Review: {}", clip(question, 200)), blocks)


def review_done(question: str, text: str, action: str, reviewer: str, note: str = "") -> Post:
    verb = {
        "approve": "Approved",
        "edit": "Edited and approved",
        "reject": "Rejected",
        "correct": "Corrected",
        "attach": "Attached",
    }[action]
    blocks = [
        section(mrkdwn(">{}\n*Answer:* {}", question, text)),
        context(mrkdwn("{} by {}.", verb, user(reviewer)) + (Mrkdwn(" ") + note if note else Mrkdwn(""))),
    ]
    return Post(mrkdwn("{}: {}", action, clip(question, 200)), blocks)


def edit_modal(answer_id: int, question: str, text: str, metadata: str) -> dict:
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": metadata,
        "title": plain_text("Edit & approve", 24),
        "submit": plain_text("Approve", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [
            section(mrkdwn("*Question:*\n>{}", question)),
            {
                "type": "input",
                "block_id": EDIT_INPUT_BLOCK,
                "label": plain_text("Answer"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    # plain text, edited as plain text: not escaped
                    "initial_value": text[:3000],
                },
            },
        ],
    }


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def figures(stats: SupportStats) -> Blocks:
    """Today's counts, then the period's deflection, approval rate, askers' feedback and the most
    asked gaps in the FAQ."""
    today = stats.days[-1]
    reviewed = stats.total("approvals") + stats.total("rejections")
    blocks = [
        section(
            mrkdwn(
                "*Today:* {} questions · {} answered · {} not in the FAQ · {} handed to humans · "
                "{} approvals",
                today.questions,
                today.answered,
                today.abstained,
                today.escalated,
                today.approvals,
            )
        ),
        section(
            mrkdwn(
                "*Last {} days:* {} questions · {} answered without a human · approval rate {} "
                "({} of {} reviewed) · askers found {} answers helpful, {} not",
                len(stats.days),
                stats.total("questions"),
                _share(stats.deflection),
                _share(stats.approval_rate),
                stats.total("approvals"),
                reviewed,
                stats.helpful,
                stats.not_helpful,
            )
        ),
    ]
    if stats.top_unanswered:
        lines = [
            mrkdwn("• {} ×{}", clip(t.example, 150), t.questions)
            + (mrkdwn(" (closest entry: `{}`)", t.closest_entry) if t.closest_entry else Mrkdwn(""))
            for t in stats.top_unanswered
        ]
        blocks.append(section(Mrkdwn("*Not in the FAQ, most asked:*\n") + Mrkdwn("\n").join(lines)))
    return blocks


def home_unavailable() -> dict:
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": plain_text("Support bot", 150)},
            section(
                Mrkdwn(":warning: This page couldn't be loaded just now. Please open it again in a minute.")
            ),
        ],
    }


def home(
    *,
    is_admin: bool,
    stats: SupportStats | None,
    pending: list[tuple[int, str, str, bool]],
    model: dict | None,
    gaps: list[dict] | None = None,
) -> dict:
    """``pending``: (answer id, question, answer text, abstained) of answers waiting for review;
    ``gaps``: knowledge-gap topics (bot.services.gaps.Gap.to_json), most askers first."""
    blocks: Blocks = [
        {"type": "header", "text": plain_text("Support bot", 150)},
        section(
            Mrkdwn(
                "Ask me anything about our FAQ: send me a direct message, mention me in a channel, "
                "or use `/ask`. I answer in a thread and cite the FAQ entry I used; if the FAQ "
                "doesn't cover it, I'll hand you to a human."
            )
        ),
    ]
    if is_admin:
        blocks.append({"type": "divider"})
        if stats is not None:
            blocks += figures(stats)
        if model:
            scores = (
                ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in sorted(model.get("eval_scores", {}).items())
                )
                or "not evaluated"
            )
            blocks.append(section(mrkdwn("*Model in service:* `{}` — {}", model["name"], scores)))
        blocks.append(
            section(mrkdwn("*Pending reviews:* {}{}", len(pending), "" if pending else " — all caught up"))
        )
        for answer_id, question, text, abstained in pending[:10]:
            blocks.append(section(mrkdwn(">{}\n{}", clip(question, 300), clip(text, 300))))
            blocks.append(review_actions(answer_id, f"home-review-{answer_id}", abstained=abstained))
        if gaps is not None:
            blocks += gap_blocks(gaps[:HOME_GAPS])
    return {"type": "home", "blocks": blocks}


HOME_GAPS = 5  # knowledge-gap topics shown in App Home (`supportbot gaps list` has them all)


def gap_blocks(gaps: list[dict]) -> Blocks:
    """Knowledge gaps: what people asked that the FAQ does not answer, each with its draft entry and
    publish (when the draft has an answer) / dismiss buttons."""
    blocks: Blocks = [section(mrkdwn("*Knowledge gaps:* {}{}", len(gaps), "" if gaps else " — none open"))]
    for g in gaps:
        asked = _bullets(g["questions"], 3)
        more = f"\n… and {len(g['questions']) - 3} more" if len(g["questions"]) > 3 else ""
        draft = g["draft_answer"] or "no answer yet: publish with `supportbot gaps publish` and --answer"
        blocks.append(
            section(
                mrkdwn(
                    "*{}* ({} people)\n{}{}\n_Draft answer:_ {}",
                    clip(g["draft_question"], 200),
                    g["askers"],
                    asked,
                    more,
                    clip(draft, 500),
                )
            )
        )
        value = str(g["id"])
        buttons = [button("Edit & publish", GAP_EDIT, value), button("Dismiss", GAP_DISMISS, value, "danger")]
        if g["draft_answer"]:
            buttons.insert(0, button("Publish as FAQ entry", GAP_PUBLISH, value, "primary"))
        blocks.append({"type": "actions", "block_id": f"gap-{value}", "elements": buttons})
    return blocks


def _bullets(questions: list[str], shown: int) -> Mrkdwn:
    # Mrkdwn all the way: an f-string of escaped text is a plain str, which would be escaped again.
    return Mrkdwn("\n").join(mrkdwn("• {}", clip(q, 150)) for q in questions[:shown])


def _text_input(block_id: str, action_id: str, label: str, value: str, limit: int, multiline: bool) -> dict:
    element = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
        "max_length": limit,
    }
    if value:
        element["initial_value"] = value[:limit]  # plain text, edited as plain text: not escaped
    return {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element}


def gap_modal(gap: dict, metadata: str) -> dict:
    """Edit a knowledge gap's draft entry before publishing it: its question and answer, prefilled
    with the draft (the topic's most central question, a human reply from its hand-offs)."""
    asked = _bullets(gap["questions"], 5)
    return {
        "type": "modal",
        "callback_id": GAP_MODAL,
        "private_metadata": metadata,
        "title": plain_text("Publish FAQ entry", 24),
        "submit": plain_text("Publish", 24),
        "close": plain_text("Cancel", 24),
        "blocks": [
            section(mrkdwn("*{} people asked:*\n{}", gap["askers"], asked)),
            _text_input(
                GAP_QUESTION_BLOCK, GAP_QUESTION_INPUT, "Question", gap["draft_question"], 300, False
            ),
            _text_input(GAP_ANSWER_BLOCK, GAP_ANSWER_INPUT, "Answer", gap["draft_answer"] or "", 3000, True),
            context(Mrkdwn("_Every question of this topic becomes a phrasing of the new entry._")),
        ],
    }
