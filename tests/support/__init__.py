"""What the tests import that is not a test: servers, worker processes, proxies, cluster nodes.

- :mod:`~tests.support.processes`: start and stop real server processes on loopback;
- :mod:`~tests.support.demo_server`: the ``sessionward demo`` command as a real server;
- :mod:`~tests.support.example_servers`: each example app started by its own command;
- :mod:`~tests.support.web_apps`: each example app behind its framework's test client, and the
  test browser that drives them (the fixtures stay in ``tests/web/conftest.py``);
- :mod:`~tests.support.forwarding_proxy`: an HTTP reverse proxy that adds forwarding headers;
- :mod:`~tests.support.db_proxy`: a TCP proxy in front of a database server, to cause faults;
- :mod:`~tests.support.mp_worker`, :mod:`~tests.support.race_worker`,
  :mod:`~tests.support.revocation_worker`: the work of one spawned OS process;
- :mod:`~tests.support.nodes`: managers on several database servers (Galera, PG failover).

Database fixtures and their helpers (``FakeClock``, ``unique_tables``...) are in
``tests/conftest.py``.
"""
