#!/usr/bin/env bash
# The main job on a local-folder log, end to end: keygen, init, sequence a sample
# batch, prove an entry, verify the proof offline. Run from the repository root after
# `pip install -e .`; everything goes under ./demo-log (removed first).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf demo-log && mkdir -p demo-log/artifacts
tlog keygen --origin demo.tlog.example/log --out demo-log/keys
tlog init --log demo-log/log --origin demo.tlog.example/log --key demo-log/keys/log.key
for i in 1 2 3 4 5; do echo "release artifact $i" > "demo-log/artifacts/app-$i.tar"; done
tlog sequence --log demo-log/log --key demo-log/keys/log.key --raw demo-log/artifacts  # a folder: each file
# The demo makes a fresh log each time: keep its reader state and tile cache with it,
# not in ~/.local/state, where the last run's log would look like a fork.
tlog prove --log demo-log/log --vkey demo-log/keys/log.vkey --log-index 2 --out demo-log/proof.txt \
  --state-dir demo-log/state --cache-dir demo-log/cache
tlog verify --vkey demo-log/keys/log.vkey --proof demo-log/proof.txt --artifact demo-log/artifacts/app-3.tar
echo "demo: OK (log in demo-log/log)"
