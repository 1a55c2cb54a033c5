"""Every operation of docs/protocol.md#operations-and-errors, written once as a flow (see
:mod:`sessionward._flows`), one module per concern.

Both managers run these flows: the sync one on a sync store, the async one on an async store;
the web transport composes them (``yield from``) into the flows of a request, run the same way.
The decisions come from :mod:`sessionward._protocol`; the statements from
:mod:`sessionward._storage.queries`; these modules sequence them. Each flow module is named after
the pure rules it runs, so that the pair is easy to find:

- :mod:`.context`: what every flow shares (config, clock, queries, keys, seen proofs, the
  revocation cache, hooks); no flow of its own.
- :mod:`.minting`: the token set of a session (:mod:`sessionward._tokens`: signing, sealing).
- :mod:`.login`: create a session (``create_new_session``).
- :mod:`.promotion`: verify an access token, and confirm a new refresh token by it
  (``protocol.csrf_matches``, ``protocol.decide_promotion``).
- :mod:`.rotation`: refresh, the grace window and theft (``protocol.decide_refresh``,
  ``protocol.child_takes_row_payload``).
- :mod:`.revocation`: logout, revoke-all, sign-out of others, eviction
  (:mod:`sessionward._revocations`, the cached check).
- :mod:`.payload`: the jwt payload changed mid-session (``protocol.next_payload_version``).
- :mod:`.listing`: listing, session data, the purge (``protocol.purge_due``) and the key rings'
  flows (:mod:`sessionward._keyring`, :mod:`sessionward._refresh_keyring`,
  :mod:`sessionward._key_table`).

The common cases cost one statement each: a refresh by the current parent
(:meth:`Queries.refresh_by_parent`), the promotion of a confirmed child
(:meth:`Queries.promote_child`), a login, a logout. The row is read, and the decision taken on
it by the pure functions of ``protocol.py`` and written back by compare-and-set, only when that
one statement matched nothing: a duplicate inside the grace window, a child refreshed before its
access token was used, theft, a revoked session, a payload changed since the token was issued.

Every flow is a function whose first two parameters are the :class:`~.context.Context` and the
list its security events go to (:data:`~.context.Emissions`), so that one driver method of the
manager runs any of them, and the hooks are called once the whole flow has ended.
"""
