"""``tlog monitor``: follow a log, prove it append-only, and alert on watched values.

docs/monitor.md. Pure: :mod:`.config` (the watch list, rekor-monitor's YAML shape),
:mod:`.finding` (what a run reports), :mod:`.match` (an entry against the watch list)
and :mod:`.examine` (one entry's index keys and validity). Adapters: :mod:`.state`
(where a monitor resumes), :mod:`.delivery` (hooks) and :mod:`.metrics`. Orchestration:
:mod:`.vantage` (split views), :mod:`.rows` (the index check) and :mod:`.run`.
"""
