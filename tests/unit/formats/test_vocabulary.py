"""The shared words: each Literal's tuple holds exactly its words, and the code's words are among them."""

from __future__ import annotations

import pytest

from scheduler_proc.formats import vocabulary
from scheduler_proc.hooks import AFTER


def test_the_words() -> None:
    assert vocabulary.ROLES == ("leader", "standby")
    assert vocabulary.MODES == ("single-host", "cluster")
    assert vocabulary.COMMAND_ACTIONS == ("run", "pause", "resume")
    assert vocabulary.MANUAL_RUN_RESULTS == ("ran", "queued", "already-ran", "refused")
    assert vocabulary.RUN_ORIGINS == ("schedule", "manual")
    assert set(vocabulary.RUN_OUTCOMES) == {"running", "success", "error", "timed_out", "abandoned", "skipped"}


def test_a_last_outcome_is_a_run_outcome_or_unknown_never_an_error() -> None:
    assert (*vocabulary.RUN_OUTCOMES, "unknown") == vocabulary.LAST_OUTCOMES
    assert [vocabulary.last_outcome(word) for word in ("timed_out", "vanished", None, b"success")] == [
        "timed_out",
        "unknown",
        "unknown",
        "unknown",
    ]


def test_every_outcome_a_hook_hears_of_is_a_run_outcome() -> None:
    assert set(AFTER) <= set(vocabulary.RUN_OUTCOMES)


def test_a_word_becomes_a_command_action_or_a_clear_error() -> None:
    assert vocabulary.command_action("pause") == "pause"
    with pytest.raises(ValueError, match="unknown action 'stop'; use one of run, pause, resume"):
        vocabulary.command_action("stop")
