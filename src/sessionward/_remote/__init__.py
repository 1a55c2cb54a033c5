"""Verify access tokens in another service, knowing only the issuing app's JWKS URL.

A resource service (another process, another team, another language's peer) needs neither the
database nor a secret: :class:`RemoteVerifier` (sync) and :class:`AsyncRemoteVerifier` fetch the
issuer's JWK Set over HTTP, cache it for as long as its ``Cache-Control: max-age`` says, and
verify tokens with exactly the checks of the library's own verify: the algorithm comes from the
key, never from the token; a header naming its own key (``jwk``, ``jku``, ``x5u``) is refused;
expiry with the configured leeway; the anti-CSRF token compared in constant time.

Both classes drive one flow (:func:`~sessionward._remote.flow.verify_flow`), as the managers
do: the flow decides, and yields a ``FetchKeys`` step when it needs the key set, which the sync
or async driver performs with its own httpx client. A token with an unknown ``kid`` refetches
the set at most once per ``refetch_cooldown``; an HS256 token never does (no JWK Set can verify
it).

When the issuer is down or hangs, one fetch is in flight at a time and every caller that needed
it waits for that one and takes its outcome (see :class:`~sessionward._remote.cache.KeyCache`):
a failed or timed-out fetch sends them all on with the cached keys at once (or, with none
cached yet, with that fetch's error), and the next fetch waits for the cooldown. So no request
waits longer than one fetch ``timeout``, and a hanging issuer sees one fetch per cooldown, not
one per request.

Revocations: when the issuer serves its revocation feed (``revocation_feed_path``; the JWK Set
names it), both verifiers read it once per ``revocation_refresh_interval`` (2 s) on the request
that finds it due, and refuse a revoked session's tokens with the issuer's own error (see
:mod:`~sessionward._remote.revocations` for the staleness bound and the fail-closed default).
Without a feed, a revoked session's access token verifies here until it expires.

Needs ``pip install 'sessionward[client]'`` (httpx); the import is done when the first verifier
is made, so ``import sessionward`` never needs it.

A package, one concept a module: ``keyset`` reads a JWK Set (keys and lifetime), ``fetching``
bounds one download, ``cache`` holds the keys and the single-flight rule, ``revocations`` what
the feeds said, ``flow`` is the one verify, ``verifiers`` the two classes that drive it. This
module only names what is imported from the package.
"""

from sessionward._remote.verifiers import AsyncRemoteVerifier, RemoteVerifier

__all__ = ["AsyncRemoteVerifier", "RemoteVerifier"]
