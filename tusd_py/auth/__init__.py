"""Identity: accounts, access tokens, refresh sessions, the auth middleware, rate limits.

The tus core knows nothing of this package: it is handed an owner (a user id string) by the web
layer, which reads it from the ``Caller`` the auth middleware puts on each request.
"""
