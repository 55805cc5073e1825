"""The champion as the platform records it, where only the platform's functions write.

MLflow's `champion` alias is for people: with an MLflow App, IAM authorises every MLflow call
with the one action `sagemaker:CallMlflowAppApi`, so a data scientist can move the alias. What a
batch transform runs is therefore read from the platform's own records:

* a model with an endpoint: the endpoint's tag `mlops:promoted-package-arn`, which the deployer
  writes when it makes the package the endpoint serves champion (`deployer.endpoint`);
* a model served only by batch transform: the item `<model>#champion` of the model lock table,
  which the deployer writes once the package passed its checks. No persona may write that table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_common.lease import KEY_ATTRIBUTE

PROMOTED_PACKAGE_TAG = "mlops:promoted-package-arn"
CHAMPION_KEY_SUFFIX = "#champion"


@dataclass(frozen=True)
class ChampionRecord:
    """The package the deployer made champion, and when."""

    package_arn: str
    version: int
    mlflow_version: str | None
    recorded_at: str


@dataclass(frozen=True)
class ChampionRecords:
    """Champion records of batch-only models in the model lock table (low-level DynamoDB client)."""

    dynamodb: Any
    table_name: str

    def write(self, model: str, record: ChampionRecord) -> None:
        """Record `record` as `model`'s champion (an overwrite: the newest promotion wins)."""
        item: dict[str, Any] = {
            KEY_ATTRIBUTE: {"S": model + CHAMPION_KEY_SUFFIX},
            "packageArn": {"S": record.package_arn},
            "packageVersion": {"N": str(record.version)},
            "recordedAt": {"S": record.recorded_at},
        }
        if record.mlflow_version is not None:
            item["mlflowVersion"] = {"S": record.mlflow_version}
        self.dynamodb.put_item(TableName=self.table_name, Item=item)

    def read(self, model: str) -> ChampionRecord | None:
        """`model`'s recorded champion, or None if the deployer never promoted one."""
        item = self.dynamodb.get_item(
            TableName=self.table_name, Key={KEY_ATTRIBUTE: {"S": model + CHAMPION_KEY_SUFFIX}}, ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return ChampionRecord(
            package_arn=item["packageArn"]["S"],
            version=int(item["packageVersion"]["N"]),
            mlflow_version=item.get("mlflowVersion", {}).get("S"),
            recorded_at=item["recordedAt"]["S"],
        )
