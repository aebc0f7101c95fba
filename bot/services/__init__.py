"""The runtime services: the imperative shell that runs the pure core against the adapters.

- :mod:`~bot.services.app`: the composition root (builds and starts everything for ``run``);
- :mod:`~bot.services.scheduler`: the poll loop and its APScheduler jobs;
- :mod:`~bot.services.poller`: one poll: fetch, snapshot, diff, route, one store transaction;
- :mod:`~bot.services.delivery`: the outbox worker (claim, send, settle);
- :mod:`~bot.services.leader`: which process polls (PostgreSQL advisory lock);
- :mod:`~bot.services.metrics`: Prometheus metrics.
"""
