"""S3 `Object Created` as EventBridge delivers it, shared by every handler that reacts to a file.

The detail's fields are those of the Amazon S3 User Guide, "EventBridge event message structure"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): `bucket.name`,
`object.key`, and optionally `object.size`, `etag`, `version-id`, `sequencer`, with `reason`,
`requester`, `request-id` and `source-ip-address` beside them. Bucket names have 3-63
characters (S3 User Guide, "General purpose bucket naming rules").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from platform_common.envelope import EventBridgeModel

OBJECT_CREATED = "Object Created"


class _Detail(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class S3Bucket(_Detail):
    name: str = Field(min_length=3, max_length=63)


class S3Object(_Detail):
    key: str = Field(min_length=1)
    # Optional in the documented schema; a missing size is simply not judged.
    size: int | None = Field(default=None, ge=0)
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(_Detail):
    bucket: S3Bucket
    object: S3Object
    reason: str | None = None
    requester: str | None = None
    request_id: str | None = Field(default=None, alias="request-id")
    source_ip_address: str | None = Field(default=None, alias="source-ip-address")


class ObjectCreatedEvent(EventBridgeModel):
    """S3 `Object Created` delivered by EventBridge (the bucket has EventBridge enabled)."""

    detail: ObjectCreatedDetail
