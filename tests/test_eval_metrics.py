"""The ranking metrics of ``docbot eval``, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from bot.eval.metrics_ir import (
    dcg,
    mean_over_queries,
    mrr_at_k,
    ndcg_at_k,
    ndcg_leaderboard_at_k,
    recall_at_k,
)

# One query: d1 is highly relevant (2), d2 and d3 relevant (1), d4 judged not relevant.
JUDGED = {"d1": 2, "d2": 1, "d3": 1, "d4": 0}
LOG2_3 = math.log2(3)  # discount at rank 2
LOG2_4 = 2.0  # rank 3
LOG2_5 = math.log2(5)  # rank 4


def test_dcg_discounts_by_log2_of_rank_plus_one() -> None:
    assert dcg([3, 2, 1]) == pytest.approx(3 + 2 / LOG2_3 + 1 / LOG2_4)
    assert dcg([]) == 0


def test_standard_ndcg_uses_every_judged_document_for_the_ideal() -> None:
    # Ranked: d4 (0), d2 (1), x (unjudged), d1 (2).  DCG = 1/log2(3) + 2/log2(5).
    # Ideal over all judged: 2, 1, 1 -> 2 + 1/log2(3) + 1/2.
    ranked = ["d4", "d2", "x", "d1"]
    expected = (1 / LOG2_3 + 2 / LOG2_5) / (2 + 1 / LOG2_3 + 0.5)
    assert ndcg_at_k(ranked, JUDGED, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.4766, abs=1e-4)


def test_leaderboard_ndcg_uses_the_retrieved_documents_own_grades() -> None:
    # Retrieved grades: 0, 1, 0, 2.  Ideal = the same sorted: 2, 1, 0, 0.
    ranked = ["d4", "d2", "x", "d1"]
    expected = (1 / LOG2_3 + 2 / LOG2_5) / (2 + 1 / LOG2_3)
    assert ndcg_leaderboard_at_k(ranked, JUDGED, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.5672, abs=1e-4)
    # Retrieving a single relevant document at rank 1 is "perfect" for this variant,
    # while the standard one sees the two it missed.
    assert ndcg_leaderboard_at_k(["d2", "x"], JUDGED, 10) == 1.0
    assert ndcg_at_k(["d2", "x"], JUDGED, 10) == pytest.approx(1 / (2 + 1 / LOG2_3 + 0.5))


def test_both_ndcgs_are_zero_without_a_relevant_document_retrieved() -> None:
    assert ndcg_at_k(["x", "d4"], JUDGED, 10) == 0.0
    assert ndcg_leaderboard_at_k(["x", "d4"], JUDGED, 10) == 0.0
    assert ndcg_at_k(["d1"], {"d1": 0}, 10) == 0.0  # nothing relevant exists


def test_perfect_ranking_scores_one_and_k_cuts_the_list() -> None:
    assert ndcg_at_k(["d1", "d2", "d3"], JUDGED, 10) == pytest.approx(1.0)
    # At k=1 only d2 counts: 1 / 2 (the ideal's first gain is d1's 2).
    assert ndcg_at_k(["d2", "d1"], JUDGED, 1) == pytest.approx(0.5)
    assert ndcg_leaderboard_at_k(["d2", "d1"], JUDGED, 1) == 1.0


def test_recall_counts_only_grades_above_zero() -> None:
    assert recall_at_k(["d4", "d2", "x", "d1"], JUDGED, 10) == pytest.approx(2 / 3)
    assert recall_at_k(["d4", "d2", "x", "d1"], JUDGED, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["d1"], {"d1": 0}, 10) == 0.0


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_document() -> None:
    assert mrr_at_k(["d4", "x", "d3", "d1"], JUDGED, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["d4", "x", "d3"], JUDGED, 2) == 0.0


def test_mean_scores_queries_missing_from_the_run_as_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": ["a"]}
    assert mean_over_queries(mrr_at_k, run, qrels, 10) == pytest.approx(0.5)
    assert mean_over_queries(mrr_at_k, run, {}, 10) == 0.0
