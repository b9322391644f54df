"""Operations: what docbot did and how it fared, for admins and doc owners.

Metrics, logs with secret redaction, the per-question bookkeeping (``observe``),
model prices, rate limits, bounded pools (``admission``: what waits, what is refused),
and the ``status`` and ``feedback`` reports.
"""
