"""The Slack surface: Bolt listeners, the answer's life in a thread, and Block Kit.

``app`` builds the Bolt app and registers the listeners; ``listeners`` turn events
into questions using the Slack-free rules of ``conversation``; ``answering`` runs
a question through docbot's one answer path; ``reply`` shows it in the thread;
``ui``, ``mrkdwn`` and ``status_view`` are pure renderers, and ``defuse`` makes the
untrusted text they render inert (no mention or hidden link from a page or the model).
"""
