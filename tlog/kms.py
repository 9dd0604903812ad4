"""An AWS KMS ECDSA P-256 key as a signed-note signer (type 0x02).

The private key never leaves KMS; tlog asks KMS to sign each checkpoint body
(``MessageType=RAW``, ``ECDSA_SHA_256``, DER signature), which is what the type 0x02
note signature is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import botocore.config
import botocore.exceptions

from tlog.errors import ConfigError, StorageError
from tlog.note import ECDSAKey, check_key_name

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient


class KMSSigner(ECDSAKey):
    """Signs note text with a KMS key of spec ``ECC_NIST_P256`` and usage SIGN_VERIFY."""

    def __init__(self, name: str, kms_key_id: str, client: KMSClient) -> None:
        check_key_name(name)  # before asking KMS anything
        self._kms_key_id = kms_key_id
        self._client = client
        try:
            info: Any = client.get_public_key(KeyId=kms_key_id)
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ConfigError(f"KMS key {kms_key_id!r}: {code}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"KMS key {kms_key_id!r}: {exc}") from None
        spec = info.get("KeySpec") or info.get("CustomerMasterKeySpec")
        if spec != "ECC_NIST_P256" or info.get("KeyUsage") != "SIGN_VERIFY":
            raise ConfigError(
                f"KMS key {kms_key_id!r} is {spec}/{info.get('KeyUsage')}, "
                "want ECC_NIST_P256/SIGN_VERIFY"
            )
        super().__init__(name, bytes(info["PublicKey"]))

    def __repr__(self) -> str:
        return f"KMSSigner({self._name!r}, {self._kms_key_id!r})"

    @classmethod
    def connect(cls, name: str, kms_key_id: str, endpoint_url: str | None = None) -> KMSSigner:
        if not kms_key_id:
            raise ConfigError("awskms:// needs a key ID, alias or ARN")
        config = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"})
        try:
            client = boto3.client(
                "kms",
                # None: boto3 reads AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL itself.
                endpoint_url=endpoint_url,
                config=config,
            )
        except botocore.exceptions.BotoCoreError as exc:
            raise ConfigError(f"cannot reach AWS KMS: {exc}") from None
        return cls(name, kms_key_id, client)

    def sign(self, text: bytes) -> bytes:
        try:
            out: Any = self._client.sign(
                KeyId=self._kms_key_id,
                Message=text,
                MessageType="RAW",
                SigningAlgorithm="ECDSA_SHA_256",
            )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise StorageError(f"KMS signing with {self._kms_key_id!r} failed: {exc}") from None
        return bytes(out["Signature"])
