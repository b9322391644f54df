"""What an answer cost: tokens times the model's list price, in US dollars.

An estimate for dashboards and budgets, not an invoice: list prices change, and
Azure or self-hosted models (Ollama, vLLM) have their own terms. A model not in the
table costs 0 and is reported as unpriced (``Cost.known`` false, a one-time warning
in the log, ``docbot_llm_price_known`` 0 in metrics), so a zero is never mistaken
for "free". The table is a plain mapping so it can come from configuration later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

# USD per million tokens: (input, output). OpenAI list prices for standard processing.
PRICES_PER_MILLION: Mapping[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
}


@dataclass(frozen=True)
class Cost:
    usd: float
    known: bool
    """False when the model has no price in the table (``usd`` is then 0)."""


class PriceTable:
    """Looks prices up by model name; dated snapshots (``gpt-4o-mini-2024-07-18``)
    use their family's price (the longest table name the model starts with)."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] = PRICES_PER_MILLION) -> None:
        self._prices = dict(prices)
        self._by_length = sorted(self._prices, key=len, reverse=True)
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def price(self, model: str | None) -> tuple[float, float] | None:
        """(input, output) USD per million tokens, or None when unknown."""
        if not model:
            return None
        name = model.lower().removeprefix("openai/")
        if name in self._prices:
            return self._prices[name]
        for known in self._by_length:
            if name.startswith(known + "-"):
                return self._prices[known]
        return None

    def cost(self, model: str | None, prompt_tokens: int, completion_tokens: int) -> Cost:
        """The estimated cost of one call; warns once per unpriced model."""
        price = self.price(model)
        if price is None:
            if model and prompt_tokens + completion_tokens:
                self._warn_once(model)
            return Cost(0.0, False)
        usd = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
        return Cost(round(usd, 8), True)

    def _warn_once(self, model: str) -> None:
        with self._lock:
            if model in self._warned:
                return
            self._warned.add(model)
        log.warning(
            "no price known for model %s; its answers are counted as costing $0 "
            "(docbot_llm_price_known 0)",
            model,
        )
