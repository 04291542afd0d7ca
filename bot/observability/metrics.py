"""Prometheus metrics of the bot and of the worker.

Each process (every bot replica, the worker) keeps its own registry and serves it on its own ops
port; Prometheus adds replicas up with ``sum()``. Values that live in the database or in another
component (the model in service, the queue, the scheduler) are read at scrape time, so they are
never stale and a failing read costs one scrape (NaN), not the process.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Answers take from ~50 ms (FAQ as written) to a minute (generation timeout).
ANSWER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60, 120)
RETRIEVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
FINETUNE_BUCKETS = (60, 300, 600, 1200, 1800, 3600, 7200, 14400)

ANSWER_MODES = ("generated", "faq", "abstain", "human")
REVIEW_ACTIONS = ("approve", "edit", "reject", "correct", "attach")
ESCALATION_REASONS = ("abstain", "requested")
FEEDBACK_KINDS = ("helpful", "not_helpful")  # "Talk to a human" counts as an escalation
# not_earned: the model in service did not reach the faithfulness bar, so it was not asked at all
FALLBACK_REASONS = ("not_earned", "ungrounded", "busy", "timeout", "error")


class ScrapeTime(Collector):
    """A gauge or info metric whose value is read when Prometheus scrapes."""

    def __init__(self, name: str, documentation: str, read: Callable[[], object], *, info: bool = False):
        self.name, self.documentation, self._read, self.info = name, documentation, read, info

    def collect(self) -> Iterable[Metric]:
        try:
            value = self._read()
        except Exception as exc:  # a database hiccup must not fail the whole scrape
            log.warning("metric %s unavailable: %s", self.name, exc)
            value = None
        if self.info:
            family = InfoMetricFamily(self.name, self.documentation)
            if value:
                family.add_metric([], {k: str(v) for k, v in value.items()})
        else:
            family = GaugeMetricFamily(
                self.name, self.documentation, value=math.nan if value is None else float(value)
            )
        yield family


class BotMetrics:
    """What a bot process counts. Services increment these where the event is recorded in SQL."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.questions = Counter(
            "supportbot_questions",
            "Questions received and recorded, by where they came from",
            ["source"],
            registry=r,
        )
        self.answers = Counter(
            "supportbot_answers",
            "Answers recorded, by how they were made: generated (the "
            "model), faq (the entry as written), abstain, human (a support agent's reply)",
            ["mode"],
            registry=r,
        )
        self.abstentions = Counter(
            "supportbot_abstentions",
            "Questions the FAQ does not cover (the bot said so instead of guessing)",
            registry=r,
        )
        self.fallbacks = Counter(
            "supportbot_fallbacks",
            "Model answers replaced by the FAQ text, by reason",
            ["reason"],
            registry=r,
        )
        self.escalations = Counter(
            "supportbot_escalations",
            "Questions handed to the support team, by reason",
            ["reason"],
            registry=r,
        )
        self.reviews = Counter(
            "supportbot_reviews",
            "Admin review decisions: approve, edit (approved with changes), reject",
            ["action"],
            registry=r,
        )
        self.feedback = Counter(
            "supportbot_feedback", "Askers' button presses under answers", ["kind"], registry=r
        )
        self.answer_latency = Histogram(
            "supportbot_answer_latency_seconds",
            "From receiving a question to its recorded answer, by answer mode",
            ["mode"],
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.retrieval_latency = Histogram(
            "supportbot_retrieval_seconds",
            "FAQ retrieval time per question",
            buckets=RETRIEVAL_BUCKETS,
            registry=r,
        )
        self.generation_latency = Histogram(
            "supportbot_generation_seconds",
            "Model time per answer, waiting in the queue included",
            buckets=ANSWER_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge("supportbot_queue_depth", "Questions waiting for the model", registry=r)
        self.in_progress = Gauge(
            "supportbot_answers_in_progress", "Slack questions taken and not yet answered", registry=r
        )
        # Known label values start at 0, so rate() and absent() work from the first scrape.
        for labels, metric in (
            (ANSWER_MODES, self.answers),
            (REVIEW_ACTIONS, self.reviews),
            (ESCALATION_REASONS, self.escalations),
            (FEEDBACK_KINDS, self.feedback),
            (FALLBACK_REASONS, self.fallbacks),
        ):
            for value in labels:
                metric.labels(value)

    def track_queue(self, waiting: Callable[[], int]) -> None:
        self.queue_depth.set_function(waiting)

    def track_model(self, current: Callable[[], dict | None]) -> None:
        self.registry.register(
            ScrapeTime("supportbot_model", "The model version in service", current, info=True)
        )


class WorkerMetrics:
    """What the worker counts: its fine-tune runs, the work waiting for the next one, the model."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.finetune_runs = Counter(
            "supportbot_finetune_runs",
            "Scheduled fine-tune runs by outcome: succeeded "
            "(promoted), rejected (the gate said no), skipped, busy, failed, error",
            ["status"],
            registry=r,
        )
        self.finetune_duration = Histogram(
            "supportbot_finetune_run_seconds",
            "Duration of scheduled fine-tune runs that trained",
            buckets=FINETUNE_BUCKETS,
            registry=r,
        )
        for status in ("succeeded", "rejected", "skipped", "busy", "failed", "error"):
            self.finetune_runs.labels(status)

    def track(self, name: str, documentation: str, read: Callable[[], object], *, info: bool = False) -> None:
        self.registry.register(ScrapeTime(name, documentation, read, info=info))
