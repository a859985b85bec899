"""The claim answer of the cluster stores: one letter per fire, or 'fenced' (redis/lua/claim.lua,
postgres/sql/ledger.sql's claim), decoded in one place for both."""

from __future__ import annotations

from scheduler_proc.coordination.records import ClaimResult

#: The answer per fire, one letter each.
LETTERS = {
    "c": ClaimResult.CLAIMED,
    "d": ClaimResult.DUPLICATE,
    "f": ClaimResult.FLOORED,
    "e": ClaimResult.EARLY,
    "b": ClaimResult.BUSY,
}


def claim_letters(text: str, fires: int) -> list[ClaimResult]:
    """'fenced' (the caller's lease is not the current one), else one result per letter.

    ValueError for any other answer: the caller counts those fires as not claimed now.
    """
    if text == "fenced":
        return [ClaimResult.FENCED] * fires
    if len(text) != fires or not set(text) <= LETTERS.keys():
        raise ValueError(f"claim script answered {text[:40]!r} for {fires} fire(s)")
    return [LETTERS[letter] for letter in text]
