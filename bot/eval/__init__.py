"""``docbot eval``: retrieval quality on BEIR-format datasets, and the IR metrics."""
