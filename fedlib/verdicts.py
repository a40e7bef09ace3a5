"""Verdicts that respect noise: a claim about two arms is decided by the interval of their difference.

For a claim "A beats B" (or, where the paper found the opposite, "B beats A"), with the 95 % interval
of the paired difference A - B from :func:`fedlib.stats.paired_difference` (mean accuracy) or
:func:`fedlib.stats.paired_worst_difference` (worst-language accuracy):

* ``reproduced``   -- the interval lies entirely on the paper's side of 0;
* ``contradicted`` -- it lies entirely on the other side;
* ``inconclusive`` -- it contains 0: our data cannot tell the arms apart;
* ``not assessed`` -- one of the arms lacks artifacts for some of its planned seeds.

:func:`rule` prints exactly this test for a row, and :func:`decide` is the only place it is applied.
"""

from __future__ import annotations

from fedlib.stats import Estimate

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not assessed")


def decide(difference: Estimate | None, paper_sign: int) -> str:
    """The verdict on "A - B has the sign ``paper_sign``" (+1: A is better in the paper; -1: worse)."""
    if paper_sign not in (1, -1):
        raise ValueError(f"paper_sign must be +1 or -1, not {paper_sign!r}")
    if difference is None:
        return "not assessed"
    low, high = paper_sign * difference.low, paper_sign * difference.high
    low, high = min(low, high), max(low, high)
    if low > 0:
        return "reproduced"
    if high < 0:
        return "contradicted"
    return "inconclusive"


def rule(a: str, b: str, paper_sign: int, *, of: str | None = None) -> str:
    """The rule :func:`decide` applies, in words, for arms ``a`` and ``b`` (``of``: the quantity whose
    difference decides, where it is not the mean accuracy)."""
    side, other = ("above", "below") if paper_sign > 0 else ("below", "above")
    quantity = f" in {of}" if of else ""
    return (f"95 % interval of the paired difference {a} − {b}{quantity}: reproduced if entirely {side} 0, "
            f"contradicted if entirely {other} 0, inconclusive if it contains 0; not assessed until both arms have "
            f"every planned seed")
