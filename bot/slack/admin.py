"""Admin work in Slack: review posts, review decisions and App Home. The SQL behind them is the
review service's; this module only talks to Slack."""

from __future__ import annotations

import json
import logging
import random
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.container import Container
from bot.services.gaps import GapError
from bot.services.review import AlreadyReviewed, NotAuthorized, ReviewError
from bot.slack import blocks
from bot.slack.client import SafeWebClient

__all__ = ["REFUSAL", "Admin"]

log = logging.getLogger(__name__)
GROUP_CACHE_S = 300.0
REFUSAL = "Only support admins can review answers. This attempt was logged."
GAP_REFUSAL = "Only support admins can publish or dismiss knowledge gaps. This attempt was logged."
HOME_STATS_DAYS = 7


class Admin:
    def __init__(self, container: Container, client: SafeWebClient):
        self.c = container
        self.settings = container.settings
        self.client = client
        self._group: tuple[float, set[str]] = (0.0, set())
        self._group_lock = threading.Lock()
        if self.settings.admin_group:
            container.reviews.group_members = self._admin_group_members

    def maybe_review(self, answer_id: int, flag: str | None) -> None:
        """Post to the review channel per ``review_mode``; a given answer is posted once, ever."""
        s = self.settings
        if s.review_mode == "off" or not s.review_channel:
            return
        if flag:
            reason = flag
        elif s.review_mode == "all":
            reason = "all"
        elif s.review_mode == "sample" and random.random() < s.review_sample_rate:
            reason = "sample"
        else:
            return
        post_id = self.c.reviews.claim_post(answer_id, reason, s.review_channel)
        if post_id is None:  # already posted (by this process or another)
            return
        ctx = self.c.reviews.context(answer_id)
        post = blocks.review_request(
            answer_id,
            ctx.question,
            ctx.text,
            ctx.sources,
            reason,
            ctx.asker,
            abstained=ctx.abstained,
            how=blocks.how_answered(ctx.mode, ctx.why),
        )
        sent = self.client.chat_postMessage(channel=s.review_channel, **post.args())
        self.c.reviews.post_sent(post_id, sent["ts"])

    def review(
        self,
        action: str,
        answer_id: int,
        reviewer: str,
        *,
        channel: str | None,
        ts: str | None,
        edited_text: str | None = None,
        entry_id: str | None = None,
    ) -> str:
        """Apply an admin's decision; returns what to tell them. Non-admins are refused and logged.
        ``entry_id``: the right entry, for "correct" and "attach" (the service tells them apart)."""
        reviews = self.c.reviews
        try:
            if action == "reject":
                outcome = reviews.reject(answer_id, reviewer)
            elif action in ("correct", "attach"):
                outcome = reviews.correct(answer_id, reviewer, entry_id or "")
            else:
                outcome = reviews.approve(answer_id, reviewer, edited_text=edited_text)
        except NotAuthorized:
            log.warning("refused %s of answer %s by non-admin %s", action, answer_id, reviewer)
            return REFUSAL
        except AlreadyReviewed as exc:
            log.info(
                "%s of answer %s by %s: already reviewed by %s", action, answer_id, reviewer, exc.reviewer
            )
            return f"Not done: {exc}."
        except ReviewError as exc:
            return f"Not done: {exc}."
        question, text = reviews.describe(answer_id)
        note = _taught(outcome)
        if channel and ts:
            done = blocks.review_done(question, edited_text or text, outcome.action, reviewer, note)
            try:
                self.client.chat_update(channel=channel, ts=ts, **done.args())
            except SlackApiError as exc:  # the decision is recorded; only the post stays as it was
                log.warning("review post %s not updated: %s", ts, exc.response.get("error"))
        return f"Done: {outcome.action}. {note}".strip()

    def entry_options(self, user: str, query: str, answer_id: int | None) -> list[dict] | None:
        """The entry picker's options; None for anyone but an admin (refused and logged)."""
        if not self.c.reviews.is_admin(user):
            log.warning("refused the FAQ entry picker to non-admin %s (answer %s)", user, answer_id)
            return None
        return blocks.entry_options(self.c.reviews.entry_choices(query, answer_id))

    def open_edit(
        self, answer_id: int, reviewer: str, trigger_id: str, channel: str | None, ts: str | None
    ) -> str | None:
        if not self.c.reviews.is_admin(reviewer):
            log.warning("refused edit of answer %s by non-admin %s", answer_id, reviewer)
            return REFUSAL
        try:
            question, text = self.c.reviews.describe(answer_id)
        except ReviewError as exc:
            return f"Not done: {exc}."
        metadata = json.dumps({"answer_id": answer_id, "channel": channel, "ts": ts})
        self.client.views_open(
            trigger_id=trigger_id, view=blocks.edit_modal(answer_id, question, text, metadata)
        )
        return None

    def publish_home(self, user: str) -> None:
        admin = self.c.reviews.is_admin(user)
        stats, pending, model, gaps = None, [], None, None
        if admin:
            gaps = [g.to_json() for g in self.c.gaps.topics()[: blocks.HOME_GAPS]]
            stats = self.c.stats.summary(days=HOME_STATS_DAYS, top=3)
            pending = [(a.id, q, a.text, a.abstained) for a, q in self.c.reviews.pending(limit=10)]
            served = self.c.models.in_service(self.c.started_engine())
            if served:
                name = served.name
                if served.source == "server":
                    name = f"{served.name} at {self.settings.openai_base_url}"
                model = {"name": name, "eval_scores": served.eval_scores}
        try:
            self.client.views_publish(
                user_id=user,
                view=blocks.home(is_admin=admin, stats=stats, pending=pending, model=model, gaps=gaps),
            )
        except SlackApiError as exc:  # e.g. the user never opened the app: nothing to show it in
            log.warning("App Home of %s not published: %s", user, exc.response.get("error"))

    def open_gap_edit(self, gap_id: int, user: str, trigger_id: str) -> str | None:
        """Open the editor of a knowledge gap's draft entry; returns a refusal to tell, or None."""
        if not self.c.reviews.is_admin(user):
            log.warning("refused editing knowledge gap %s by non-admin %s", gap_id, user)
            return GAP_REFUSAL
        try:
            gap = self.c.gaps.get(gap_id)
        except GapError as exc:
            return f"Not done: {exc}."
        metadata = json.dumps({"gap_id": gap_id})
        self.client.views_open(trigger_id=trigger_id, view=blocks.gap_modal(gap.to_json(), metadata))
        return None

    def gap(
        self, action: str, gap_id: int, user: str, *, question: str | None = None, answer: str | None = None
    ) -> str:
        """Publish (the draft, or the admin's edit of it) or dismiss a knowledge gap from App Home;
        returns what to tell the presser."""
        if not self.c.reviews.is_admin(user):
            log.warning("refused %s of knowledge gap %s by non-admin %s", action, gap_id, user)
            return GAP_REFUSAL
        try:
            if action == "publish":
                entry = self.c.gaps.publish(gap_id, user, question=question, answer=answer)
                return f"Published as FAQ entry `{entry}`: its questions find it from now on."
            n = self.c.gaps.dismiss(gap_id, user)
            return f"Dismissed ({n} questions)."
        except GapError as exc:
            return f"Not done: {exc}."

    def _admin_group_members(self) -> set[str]:
        with self._group_lock:
            fetched_at, members = self._group
            if time.monotonic() - fetched_at > GROUP_CACHE_S:
                resp = self.client.usergroups_users_list(usergroup=self.settings.admin_group)
                members = set(resp.get("users") or [])
                self._group = (time.monotonic(), members)
            return members


def _taught(outcome) -> str:
    """What a decision taught, in a sentence or two."""
    parts = []
    if outcome.learned_entry:
        parts.append(f"The question now finds `{outcome.learned_entry}`.")
    elif outcome.curated_entry:
        parts.append(f"Added to the FAQ as `{outcome.curated_entry}`.")
    if outcome.wrong_entry:
        parts.append(f"`{outcome.wrong_entry}` is recorded as not answering it.")
    return " ".join(parts)
