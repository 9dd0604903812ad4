"""``tlog monitor``: follow a log, prove it append-only, and alert on watched values.

docs/monitor.md. Pure: :mod:`.config` (the watch list, rekor-monitor's YAML shape),
:mod:`.finding` (what a run reports), :mod:`.match` (an entry against the watch list),
:mod:`.hashedrekord` (the common hashedrekord body proved valid and keyed from one
parse) and :mod:`.seen` (the leaf hashes a run read, in fixed memory). Adapters:
:mod:`.state` (where a monitor resumes), :mod:`.delivery` (hooks) and :mod:`.metrics`.
Orchestration: :mod:`.examine` (a bundle's entries checked in a worker), :mod:`.leaves`
(leaf tiles authenticated without a growing cache), :mod:`.duplicate` (the duplicate
check), :mod:`.scan`, :mod:`.vantage` (split views), :mod:`.rows` (the index check) and
:mod:`.run`.
"""
