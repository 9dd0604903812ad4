#!/usr/bin/env bash
# A real signing flow end to end (README "Logging signed artifacts"): openssl and
# ssh-keygen sign a release file; tlog logs both signatures, proves them and verifies
# the proofs offline. Runs in a temporary folder, removed afterwards (KEEP=1 keeps it).
# Needs openssl and ssh-keygen (OpenSSH >= 8.2); uses this checkout's tlog.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
tlog() { python3 -c 'import sys; from tlog.cli import main; sys.exit(main())' "$@"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/tlog-signing-flow.XXXXXX")"
if [[ "${KEEP:-}" == 1 ]]; then echo "working in $work"; else trap 'rm -rf "$work"' EXIT; fi
cd "$work"
export XDG_STATE_HOME="$work/state" XDG_CACHE_HOME="$work/cache"
step() { printf '\n== %s\n' "$*"; }

step "the publisher signs a release with openssl (ECDSA P-256) and ssh-keygen (Ed25519)"
echo "my release $(date -u +%FT%TZ)" > app.tar.gz
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out signer.key 2>/dev/null
openssl pkey -in signer.key -pubout -out signer.pub.pem
openssl dgst -sha256 -sign signer.key -out app.tar.gz.p256.sig app.tar.gz
ssh-keygen -q -t ed25519 -N '' -C signer@example.com -f id_ed25519
ssh-keygen -q -Y sign -f id_ed25519 -n file app.tar.gz   # writes app.tar.gz.sig

step "the operator creates the log"
tlog keygen --origin example.com/signing-demo --out keys
tlog init --log log --origin example.com/signing-demo --key keys/log.key >/dev/null

step "upload: hashedrekord (openssl signature) and rekord ssh (ssh-keygen signature)"
tlog upload --log log --key keys/log.key --type hashedrekord \
  --artifact app.tar.gz --signature app.tar.gz.p256.sig --public-key signer.pub.pem
tlog upload --log log --key keys/log.key --pki-format ssh \
  --artifact app.tar.gz --signature app.tar.gz.sig --public-key id_ed25519.pub

step "a signature that does not match is refused, and nothing is written"
echo "not my release" > other.tar.gz
before="$(cat log/checkpoint)"
if tlog upload --log log --key keys/log.key --type hashedrekord \
  --artifact other.tar.gz --signature app.tar.gz.p256.sig --public-key signer.pub.pem; then
  echo "FAIL: a bad signature was logged" >&2
  exit 1
fi
[[ "$(cat log/checkpoint)" == "$before" ]] || { echo "FAIL: the log changed" >&2; exit 1; }

step "a publisher without the log key queues an entry; the operator's run sequences it"
tlog upload --log log --submit --type hashedrekord:0.0.2 \
  --artifact app.tar.gz --signature app.tar.gz.p256.sig --public-key signer.pub.pem
tlog sequence --log log --key keys/log.key --pending > sequenced.txt
sed -n 1p sequenced.txt

step "anyone reads the entry back and gets offline proofs"
tlog get --log log --vkey keys/log.vkey --log-index 0 > entry.txt
sed -n 1,6p entry.txt
tlog prove --log log --vkey keys/log.vkey --log-index 0 --out hashedrekord.proof
tlog prove --log log --vkey keys/log.vkey --log-index 1 --format sigstore --out ssh.proof.json

step "verify offline (the log is gone; only the vkey and the proof are needed)"
rm -rf log
tlog verify --vkey keys/log.vkey --proof hashedrekord.proof --artifact app.tar.gz
tlog verify --vkey keys/log.vkey --proof ssh.proof.json --artifact app.tar.gz
if tlog verify --vkey keys/log.vkey --proof hashedrekord.proof --artifact other.tar.gz; then
  echo "FAIL: the proof verified for another artifact" >&2
  exit 1
fi

printf '\nsigning flow: OK\n'
