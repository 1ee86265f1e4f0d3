"""The service's domain operations, called by the REST API (and the dashboard).

Each function takes the ServiceContext and/or a database Session and the caller's
Principal, checks tenancy, and raises the `ServiceError`s of `caffebatch.errors`.
"""
