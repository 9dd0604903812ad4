"""Witnessing (C2SP tlog-witness v1, tlog-cosignature v1): the wire formats
(:mod:`~tlog.witness.protocol`, pure), the witness's logic and state
(:mod:`~tlog.witness.service`), its HTTP server (:mod:`~tlog.witness.server`, the
``server`` extra) and the sequencer's client (:mod:`~tlog.witness.client`).
docs/witness.md says how to run a log with witnesses and how to run a witness.
"""
