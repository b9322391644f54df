"""docbot's own error tree. Third-party errors are translated into these at the
seam that called the library, so the CLI and the Slack bot can show one clear line
(what went wrong, what to do) instead of a traceback.

    DocbotError
    ├── ConfigError          bad setting or docbot.toml (names the key)
    ├── InputError           bad user input (empty or oversized question, ...)
    ├── SourceError          a source cannot be read (missing folder, Confluence auth, ...)
    │   └── SourceUnavailable    network error, 5xx or 429 after retries
    ├── StoreError           the store cannot be opened or used
    │   ├── StoreFull            the disk holding it is full
    │   ├── StoreReadOnly        it, or its folder, cannot be written
    │   ├── EmbedderMismatch     store built by another embedding model
    │   └── SourceBusy           another process is syncing that source (ingest/locks.py)
    ├── EmbedderError        embedding failed (model missing, API error)
    └── LLMError             the chat model failed
        ├── LLMUnavailable       timeout, connection error, 5xx
        │   └── LLMTimeout           no answer within the question's deadline
        └── LLMRateLimited       429 after retries
"""

from __future__ import annotations


class DocbotError(Exception):
    """Base class: ``str(err)`` is a complete sentence fit to show a user."""


class ConfigError(DocbotError):
    pass


class InputError(DocbotError):
    pass


class SourceError(DocbotError):
    pass


class SourceUnavailable(SourceError):
    pass


class StoreError(DocbotError):
    pass


class StoreFull(StoreError):
    pass


class StoreReadOnly(StoreError):
    pass


class EmbedderMismatch(StoreError):
    pass


class EmbedderError(DocbotError):
    pass


class LLMError(DocbotError):
    pass


class LLMUnavailable(LLMError):
    pass


class LLMTimeout(LLMUnavailable):
    """The question's overall deadline (``DOCBOT_ANSWER_TIMEOUT``) passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"the language model did not answer within {seconds:g} s "
            "(DOCBOT_ANSWER_TIMEOUT), so docbot stopped waiting; try again in a few minutes"
        )


class LLMRateLimited(LLMError):
    pass
