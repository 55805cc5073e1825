"""The platform's lock table: per-model lease items, so that concurrent invocations decide one at a time.

The retraining trigger takes `<model>`, the gate and the deployer `<model>#promotion`
(lambdas/platform_common/lease.py and promotion.py), so a promotion never waits for a
retraining decision and the other way round. The trigger also keeps each model's retraining
state here (lambdas/retraining_trigger/state.py: data waiting for a run).
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.constructs.platform_functions import PlatformFunction

# The item layout belongs to lambdas/platform_common/lease.py; these two names are the
# table's schema, which is all the stack needs to know of it.
KEY_ATTRIBUTE = "id"
TTL_ATTRIBUTE = "expiresAt"
# The calls the lease holders make on the table, and nothing else (no Scan, Query or UpdateItem).
ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")


class ModelLocks(Construct):
    """An encrypted on-demand table with point-in-time recovery and a TTL attribute."""

    def __init__(self, scope: Construct, construct_id: str, *, table_name: str, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.key = key
        # Not retained. Leases last minutes. The state items point at data in the data bucket,
        # which is retained: losing them (only with the stack, which takes the handlers with it)
        # loses no data, only the note that the newest data set still awaits a run, which a person
        # can ask for (RetrainingRequested). A retained table would also block redeploying the
        # stack, whose table name is fixed.
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=KEY_ATTRIBUTE, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TTL_ATTRIBUTE,
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.table,
            "NIST.800.53.R5-DynamoDBInBackupPlan",
            "The table holds leases and notes that point at retained data; point-in-time recovery is on, "
            "a backup plan would keep nothing that cannot be rebuilt.",
        )

    def grant_items(self, function: PlatformFunction) -> None:
        """Let `function` read, write and delete items of this table, and only of this table."""
        function.allow(
            iam.PolicyStatement(sid="UseModelLocks", actions=list(ITEM_ACTIONS), resources=[self.table.table_arn])
        )
        # The table is encrypted with the automation key; DynamoDB uses it on the caller's behalf.
        function.allow(
            iam.PolicyStatement(
                sid="UseModelLocksKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"dynamodb.{Aws.REGION}.amazonaws.com"}},
            )
        )
