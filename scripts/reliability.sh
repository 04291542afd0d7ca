#!/usr/bin/env bash
# Every reliability scenario (docs/reliability.md) in one command: the tests that prove them, then the
# load and fault figures. Needs PostgreSQL on 127.0.0.1:5432 (started here if it is down) and root
# for the PostgreSQL restart scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi

.venv/bin/python -m pytest -q -s \
  tests/reliability \
  tests/services/test_recovery.py tests/slack/test_recovery.py \
  tests/slack/test_two_processes.py \
  "tests/slack/test_conversations.py::test_forged_and_stale_signatures_are_rejected" \
  "tests/slack/test_conversations.py::test_retried_and_duplicate_deliveries_are_answered_once" \
  "tests/slack/test_conversations.py::test_huge_and_empty_messages_get_a_clear_reply_once" \
  "tests/slack/test_review_and_handoff.py::test_not_helpful_sends_the_answer_to_review_and_only_an_admin_can_approve_it" \
  "tests/slack/test_review_and_handoff.py::test_edit_and_approve_through_the_modal" \
  tests/services/test_answer.py tests/llm/test_engine.py \
  "tests/finetune/test_pipeline.py" \
  tests/retrieval/test_faq_properties.py tests/finetune/test_redact.py

.venv/bin/python bench/slack_load.py
