"""Block Kit builders: every message and view the bot sends is built here, nowhere else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.services.stats import SupportStats

# Slack's limits: a section's text is at most 3,000 characters, a message's text 40,000.
SECTION_LIMIT = 3000
Blocks = list[dict[str, Any]]

THINKING_TEXT = ":hourglass_flowing_sand: Looking that up in the FAQ…"
HANDOFF_TEXT = ":raising_hand: I've asked the support team. Someone will reply in this thread."

# action_ids, shared with the listeners
HELPFUL, NOT_HELPFUL, HANDOFF = "feedback_helpful", "feedback_not_helpful", "handoff_request"
APPROVE, EDIT, REJECT = "review_approve", "review_edit", "review_reject"
EDIT_MODAL, EDIT_INPUT_BLOCK, EDIT_INPUT = "review_edit_modal", "edited_answer", "edited_answer_input"


def escape(text: str) -> str:
    """Slack mrkdwn: &, < and > must be escaped or they become links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text) or " "}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 2000)}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    b = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def source_line(sources: list[dict], limit: int = 3) -> str:
    shown = []
    for s in sources[:limit]:
        title = escape(s.get("question") or s["id"])
        shown.append(f"<{s['url']}|{title}>" if s.get("url") else f"{title} (`{escape(s['id'])}`)")
    return "Sources: " + " · ".join(shown) if shown else ""


def drafting(text: str) -> Blocks:
    """A streamed answer in progress: marked as a draft until the grounding check has passed."""
    return [section(escape(text) + " ▍"), context("_drafting… checked against the FAQ before it's final_")]


def answer(text: str, answer_id: int, sources: list[dict], *, abstained: bool) -> Blocks:
    blocks = [section(escape(text))]
    if not abstained and sources:
        blocks.append(context(source_line(sources[:1])))
    value = str(answer_id)
    buttons = [button("Talk to a human", HANDOFF, value)]
    if not abstained:
        buttons = [
            button(":thumbsup: Helpful", HELPFUL, value),
            button(":thumbsdown: Not helpful", NOT_HELPFUL, value),
            *buttons,
        ]
    blocks.append({"type": "actions", "block_id": f"feedback-{answer_id}", "elements": buttons})
    return blocks


def handoff_request(
    user_id: str,
    channel_id: str,
    question: str,
    bot_answer: str | None,
    reason: str,
    permalink: str | None = None,
) -> Blocks:
    where = f"<#{channel_id}>" if channel_id and not channel_id.startswith("D") else "a direct message"
    why = "the bot found nothing in the FAQ" if reason == "abstain" else "they asked for a human"
    blocks = [section(f":raising_hand: <@{user_id}> needs help ({why}), in {where}:\n>{escape(question)}")]
    if bot_answer:
        blocks.append(context(f"The bot answered: {escape(bot_answer)[:500]}"))
    blocks.append(
        context(
            "Reply in this thread: your replies are relayed to the asker, and theirs to you."
            + (f" <{permalink}|Open their thread>" if permalink else "")
        )
    )
    return blocks


def relayed(author: str, text: str, *, from_support: bool) -> str:
    label = "from the support team" if from_support else "from the asker"
    return f"*<@{author}>* ({label}):\n{escape(text)}"


def review_request(
    answer_id: int, question: str, text: str, sources: list[dict], reason: str, asker: str | None
) -> Blocks:
    head = f"*Review* ({reason}) — question from <@{asker}>:" if asker else f"*Review* ({reason}):"
    blocks = [section(f"{head}\n>{escape(question)}"), section(f"*Answer:*\n{escape(text)}")]
    if sources:
        blocks.append(context(source_line(sources)))
    blocks.append(
        {
            "type": "actions",
            "block_id": f"review-{answer_id}",
            "elements": [
                button("Approve", APPROVE, str(answer_id), "primary"),
                button("Edit & approve", EDIT, str(answer_id)),
                button("Reject", REJECT, str(answer_id), "danger"),
            ],
        }
    )
    return blocks


def review_done(question: str, text: str, action: str, reviewer: str, note: str = "") -> Blocks:
    verb = {"approve": "Approved", "edit": "Edited and approved", "reject": "Rejected"}[action]
    return [
        section(f">{escape(question)}\n*Answer:* {escape(text)}"),
        context(f"{verb} by <@{reviewer}>. {note}".strip()),
    ]


def edit_modal(answer_id: int, question: str, text: str, metadata: str) -> dict:
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Edit & approve"},
        "submit": {"type": "plain_text", "text": "Approve"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"*Question:*\n>{escape(question)}"),
            {
                "type": "input",
                "block_id": EDIT_INPUT_BLOCK,
                "label": {"type": "plain_text", "text": "Answer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": EDIT_INPUT,
                    "multiline": True,
                    "initial_value": text[:3000],
                },
            },
        ],
    }


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def figures(stats: SupportStats) -> Blocks:
    """Today's counts, then the period's deflection, approval rate and most asked gaps in the FAQ."""
    today = stats.days[-1]
    reviewed = stats.total("approvals") + stats.total("rejections")
    blocks = [
        section(
            f"*Today:* {today.questions} questions · {today.answered} answered · "
            f"{today.abstained} not in the FAQ · {today.escalated} handed to humans · "
            f"{today.approvals} approvals"
        ),
        section(
            f"*Last {len(stats.days)} days:* {stats.total('questions')} questions · "
            f"{_share(stats.deflection)} answered without a human · approval rate "
            f"{_share(stats.approval_rate)} ({stats.total('approvals')} of {reviewed} reviewed)"
        ),
    ]
    if stats.top_unanswered:
        lines = [
            f"• {escape(t.example)[:150]} ×{t.questions}"
            + (f" (closest entry: `{escape(t.closest_entry)}`)" if t.closest_entry else "")
            for t in stats.top_unanswered
        ]
        blocks.append(section("*Not in the FAQ, most asked:*\n" + "\n".join(lines)))
    return blocks


def home(
    *, is_admin: bool, stats: SupportStats | None, pending: list[tuple[int, str, str]], model: dict | None
) -> dict:
    blocks: Blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Support bot"}},
        section(
            "Ask me anything about our FAQ: send me a direct message, mention me in a channel, "
            "or use `/ask`. I answer in a thread and cite the FAQ entry I used; if the FAQ "
            "doesn't cover it, I'll hand you to a human."
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
            blocks.append(section(f"*Model in service:* `{model['name']}` — {scores}"))
        blocks.append(section(f"*Pending reviews:* {len(pending)}" + ("" if pending else " — all caught up")))
        for answer_id, question, text in pending[:10]:
            blocks.append(section(f">{escape(question)[:300]}\n{escape(text)[:300]}"))
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"home-review-{answer_id}",
                    "elements": [
                        button("Approve", APPROVE, str(answer_id), "primary"),
                        button("Edit & approve", EDIT, str(answer_id)),
                        button("Reject", REJECT, str(answer_id), "danger"),
                    ],
                }
            )
    return {"type": "home", "blocks": blocks}
