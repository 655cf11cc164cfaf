"""Presigned URLs: the `Signer` interface (so an expert can upload without long-lived keys, e.g. through a lab's
service) and `ClientSigner`, which signs locally with a boto3 client's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4 limit


class Signer(Protocol):
    """Hands out presigned SigV4 URLs, so an expert can upload without long-lived keys (e.g. a lab's service).

    A URL from `presign_put(..., metadata=m)` must be used with the headers `x-amz-meta-<k>: <v>` for each item
    of `m`: they are part of the signature."""

    def presign_put(self, key: str, *, expires_s: int, metadata: Mapping[str, str] | None = None) -> str: ...

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, *, expires_s: int) -> str: ...


def _check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_PRESIGN_S:
        raise ValueError(f"expires_s={expires_s} is outside 1..{MAX_PRESIGN_S} (SigV4 limit)")


class ClientSigner:
    """A Signer that signs locally with a boto3 client's credentials."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def presign_put(self, key: str, *, expires_s: int, metadata: Mapping[str, str] | None = None) -> str:
        _check_expiry(expires_s)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if metadata:
            params["Metadata"] = dict(metadata)
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s)

    def presign_upload_part(self, key: str, upload_id: str, part_number: int, *, expires_s: int) -> str:
        _check_expiry(expires_s)
        if not 1 <= part_number <= 10_000:
            raise ValueError(f"part number {part_number} is outside 1..10000")
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)
