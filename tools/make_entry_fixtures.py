#!/usr/bin/env python3
"""Regenerate tests/entries/data/: signatures made by real tools, for the entry tests.

    python tools/make_entry_fixtures.py [--out tests/entries/data]

Needs ``openssl``, ``ssh-keygen`` (OpenSSH >= 8.2 for ``-Y sign``), ``minisign`` and
``gpg`` on PATH (Debian: ``apt-get install openssl openssh-client minisign gnupg``), and,
for the one Ed25519ph signature (OpenSSL 3.0 cannot make those), the ``pycryptodome``
package; without it the existing ``x509/ed25519ph.*`` pair is kept. The tests read only the
committed files, so CI needs none of these tools.

Everything signs ``artifact.txt``. Keys are fresh on each run (the tools draw them at
random) and private keys are never written to the output: only public keys, certificates,
signatures and DSSE envelopes are. RSA PKCS#1 v1.5 and Ed25519 signatures are
deterministic for a given key; ECDSA, SSH and OpenPGP ones are not.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARTIFACT = b"hello, transparency log\n"
# name -> (openssl genpkey arguments, digest for `openssl dgst`, or None for Ed25519)
X509_KEYS: dict[str, tuple[list[str], str | None]] = {
    "rsa2048": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], "sha256"),
    "rsa3072": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], "sha256"),
    "rsa4096": (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"], "sha256"),
    "p256": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256"),
    "p384": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], "sha384"),
    "p521": (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"], "sha512"),
    "ed25519": (["-algorithm", "ED25519"], None),
}
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [
        {"name": "artifact.txt", "digest": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}}
    ],
    "predicateType": "https://slsa.dev/provenance/v1",
    "predicate": {"buildDefinition": {"buildType": "https://example.com/test@v1"}},
}
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def run(*args: str | Path, stdin: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
    result = subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, env=env, check=False
    )
    if result.returncode:
        sys.exit(f"{args[0]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def openssl_sign(key: Path, digest: str | None, data_file: Path, out: Path) -> None:
    if digest is None:  # Ed25519 signs the message itself
        run("openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", data_file, "-out", out)
    else:
        run("openssl", "dgst", f"-{digest}", "-sign", key, "-out", out, data_file)


def make_x509(out: Path, tmp: Path, previous: Path) -> None:
    d = out / "x509"
    d.mkdir(parents=True)
    artifact = out / "artifact.txt"
    for name, (genargs, digest) in X509_KEYS.items():
        key = tmp / f"{name}.key"
        run("openssl", "genpkey", *genargs, "-out", key)
        run("openssl", "pkey", "-in", key, "-pubout", "-out", d / f"{name}.pub.pem")
        openssl_sign(key, digest, artifact, d / f"{name}.sig")
    # A CA and a code-signing leaf certificate (P-256) issued by it.
    ca_key, leaf_key = tmp / "ca.key", tmp / "leaf.key"
    run(
        "openssl",
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        ca_key,
    )
    run(
        "openssl",
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        leaf_key,
    )
    run(
        "openssl",
        "req",
        "-x509",
        "-new",
        "-key",
        ca_key,
        "-subj",
        "/O=tlog test/CN=test CA",
        "-days",
        "36500",
        "-sha256",
        "-extensions",
        "v3_ca",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        d / "ca.pem",
    )
    csr = tmp / "leaf.csr"
    run("openssl", "req", "-new", "-key", leaf_key, "-subj", "/O=tlog test", "-out", csr)
    leaf_ext = tmp / "leaf.ext"
    leaf_ext.write_text(
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n"
        "subjectAltName=critical,email:signer@example.com\n"
        "authorityKeyIdentifier=keyid\n"
    )
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        d / "ca.pem",
        "-CAkey",
        ca_key,
        "-set_serial",
        "2",
        "-days",
        "36500",
        "-sha256",
        "-extfile",
        leaf_ext,
        "-out",
        d / "leaf.pem",
    )
    (d / "chain.pem").write_bytes((d / "leaf.pem").read_bytes() + (d / "ca.pem").read_bytes())
    openssl_sign(leaf_key, "sha256", artifact, d / "leaf.sig")
    make_ed25519ph(d, previous)
    # DSSE: one envelope signed by p256 and ed25519 (PAE signed as a file).
    payload = json.dumps(STATEMENT, separators=(",", ":"), sort_keys=True).encode()
    pae_file = tmp / "pae.bin"
    pae_file.write_bytes(pae(PAYLOAD_TYPE, payload))
    sigs = []
    for name, keyid in (("p256", "p256-key"), ("ed25519", "")):
        sig_file = tmp / f"{name}.dsse.sig"
        openssl_sign(tmp / f"{name}.key", X509_KEYS[name][1], pae_file, sig_file)
        item = {"keyid": keyid, "sig": base64.b64encode(sig_file.read_bytes()).decode()}
        sigs.append({k: v for k, v in item.items() if v})
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": sigs,
    }
    dd = out / "dsse"
    dd.mkdir()
    (dd / "envelope.json").write_text(json.dumps(envelope, indent=2) + "\n")
    one = dict(envelope, signatures=sigs[:1])
    (dd / "envelope.p256.json").write_text(json.dumps(one) + "\n")


def make_ed25519ph(d: Path, previous: Path) -> None:
    """An Ed25519 key and its Ed25519ph signature over SHA-512(artifact), by pycryptodome."""
    names = ("ed25519ph.pub.pem", "ed25519ph.sig")
    try:
        from Crypto.Hash import SHA512  # type: ignore[import-not-found]
        from Crypto.PublicKey import ECC  # type: ignore[import-not-found]
        from Crypto.Signature import eddsa  # type: ignore[import-not-found]
    except ImportError:
        if not all((previous / n).exists() for n in names):
            sys.exit("pycryptodome is needed to make the Ed25519ph fixture")
        print("pycryptodome not installed: keeping the existing Ed25519ph key and signature")
        for n in names:
            shutil.copy(previous / n, d / n)
        return
    key = ECC.generate(curve="Ed25519")
    (d / names[0]).write_text(key.public_key().export_key(format="PEM") + "\n")
    (d / names[1]).write_bytes(eddsa.new(key, "rfc8032").sign(SHA512.new(ARTIFACT)))


def make_ssh(out: Path, tmp: Path) -> None:
    d = out / "ssh"
    d.mkdir()
    for name, args in (
        ("ed25519", ["-t", "ed25519"]),
        ("ecdsa", ["-t", "ecdsa", "-b", "256"]),
        ("rsa", ["-t", "rsa", "-b", "3072"]),
    ):
        key = tmp / f"id_{name}"
        run("ssh-keygen", "-q", *args, "-N", "", "-C", "signer@example.com", "-f", key)
        shutil.copy(f"{key}.pub", d / f"{name}.pub")
        data = tmp / "artifact.txt"
        data.write_bytes(ARTIFACT)
        run("ssh-keygen", "-Y", "sign", "-f", key, "-n", "file", data)
        shutil.move(f"{data}.sig", d / f"{name}.sig")
    key = tmp / "id_ed25519"
    run("ssh-keygen", "-Y", "sign", "-f", key, "-n", "file", "-O", "hashalg=sha256", data)
    shutil.move(f"{data}.sig", d / "ed25519.sha256.sig")
    run("ssh-keygen", "-Y", "sign", "-f", key, "-n", "git", data)
    shutil.move(f"{data}.sig", d / "ed25519.git-namespace.sig")


def make_minisign(out: Path, tmp: Path) -> None:
    d = out / "minisign"
    d.mkdir()
    sec = tmp / "minisign.key"
    run("minisign", "-G", "-W", "-p", d / "key.pub", "-s", sec)
    data = tmp / "artifact.txt"
    data.write_bytes(ARTIFACT)
    run("minisign", "-S", "-s", sec, "-m", data, "-x", d / "prehashed.minisig", "-t", "test")
    run("minisign", "-S", "-l", "-s", sec, "-m", data, "-x", d / "legacy.minisig", "-t", "test")


def make_pgp(out: Path, tmp: Path) -> None:
    d = out / "pgp"
    d.mkdir()
    home = tmp / "gnupg"
    home.mkdir(mode=0o700)
    env = dict(os.environ, GNUPGHOME=str(home))
    gpg = ["gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    data = tmp / "artifact.txt"
    data.write_bytes(ARTIFACT)
    try:
        for name, algo in (("rsa", "rsa3072"), ("ed25519", "ed25519"), ("p256", "nistp256")):
            uid = f"tlog test {name} <{name}@example.com>"
            run(*gpg, "--quick-gen-key", uid, algo, "sign", "never", env=env)
            (d / f"{name}.pub.asc").write_bytes(run(*gpg, "--armor", "--export", uid, env=env))
            run(
                *gpg,
                "--local-user",
                uid,
                "--armor",
                "--detach-sign",
                "--output",
                d / f"{name}.sig.asc",
                data,
                env=env,
            )
        uid = "tlog test ed25519 <ed25519@example.com>"
        (d / "ed25519.pub.gpg").write_bytes(run(*gpg, "--export", uid, env=env))
        run(
            *gpg, "--local-user", uid, "--detach-sign", "--output", d / "ed25519.sig", data, env=env
        )
        run(
            *gpg,
            "--local-user",
            uid,
            "--textmode",
            "--armor",
            "--detach-sign",
            "--output",
            d / "ed25519.text.sig.asc",
            data,
            env=env,
        )
        # A primary key that only certifies, with a signing subkey that signs.
        uid = "tlog test subkey <subkey@example.com>"
        run(*gpg, "--quick-gen-key", uid, "ed25519", "cert", "never", env=env)
        listing = run(*gpg, "--with-colons", "--list-keys", uid, env=env).decode()
        fpr = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
        run(*gpg, "--quick-add-key", fpr, "ed25519", "sign", "never", env=env)
        (d / "subkey.pub.asc").write_bytes(run(*gpg, "--armor", "--export", uid, env=env))
        run(
            *gpg,
            "--local-user",
            uid,
            "--armor",
            "--detach-sign",
            "--output",
            d / "subkey.sig.asc",
            data,
            env=env,
        )
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "tests/entries/data"
    )
    args = parser.parse_args()
    out: Path = args.out
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        staging = tmp / "out"
        staging.mkdir()
        (staging / "artifact.txt").write_bytes(ARTIFACT)
        (tmp / "artifact.txt").write_bytes(ARTIFACT)
        make_x509(staging, tmp, out / "x509")
        make_ssh(staging, tmp)
        make_minisign(staging, tmp)
        make_pgp(staging, tmp)
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staging, out)
    print(f"wrote {sum(1 for p in out.rglob('*') if p.is_file())} files under {out}")


if __name__ == "__main__":
    main()
