"""``tlog server``: a Rekor v2 write API in front of the sequencer (docs/server.md).

:mod:`tlog.server.pool` gathers single requests into sequencer batches and answers each
once its checkpoint is published; :mod:`tlog.server.app` is the HTTP side (Starlette on
uvicorn, the ``server`` extra). Reads stay static: a CDN serves the bucket.
"""
