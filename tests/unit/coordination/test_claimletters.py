"""The claim answer both cluster stores give (scheduler_proc/coordination/claimletters.py): one
letter per fire or 'fenced' for all; anything else raises, and the caller runs none of them."""

from __future__ import annotations

import pytest

from scheduler_proc.coordination.claimletters import claim_letters
from scheduler_proc.coordination.records import ClaimResult


def test_each_letter_is_one_fires_result_and_fenced_is_every_fires() -> None:
    assert claim_letters("cdfeb", 5) == [
        ClaimResult.CLAIMED,
        ClaimResult.DUPLICATE,
        ClaimResult.FLOORED,
        ClaimResult.EARLY,
        ClaimResult.BUSY,
    ]
    assert claim_letters("fenced", 3) == [ClaimResult.FENCED] * 3


@pytest.mark.parametrize(("text", "fires"), [("cc", 3), ("cx", 2), ("", 1), ("None", 4)])
def test_an_answer_of_another_shape_raises(text: str, fires: int) -> None:
    with pytest.raises(ValueError, match="claim script answered"):
        claim_letters(text, fires)
