"""The retraining trigger's window timer: a schedule group for one-time schedules, and the role they invoke it with."""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from platform_common import env_names
from stacks.compliance import acknowledge
from stacks.constructs.platform_functions import PlatformFunction


class TriggerTimer(Construct):
    """Lets the trigger schedule its own wake-up when a model's coalescing window closes.

    The trigger creates the schedules at run time (one per window, deleted after it fires), in
    this group only, passing this role. The role may invoke the trigger and write what could
    not be delivered to the dead-letter queue, nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        target: PlatformFunction,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=name)
        self.group_name = name
        # arn:${Partition}:scheduler:${Region}:${Account}:schedule-group/${GroupName} (Service
        # Authorization Reference, "Actions, resources, and condition keys for Amazon EventBridge
        # Scheduler", https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html).
        stack = Stack.of(self)
        self.group_arn = stack.format_arn(service="scheduler", resource="schedule-group", resource_name=name)
        self.dead_letter_queue = dead_letter_queue
        # Confused-deputy guard as EventBridge Scheduler recommends: aws:SourceArn scoped to the
        # schedule group, plus aws:SourceAccount ("Confused deputy prevention in EventBridge
        # Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
        self.role = iam.Role(
            self,
            "Role",
            role_name=name,
            description="Invokes the retraining trigger when a model's coalescing window closes",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": self.group_arn},
                },
            ),
        )
        function_arn = target.function.function_arn
        self.role.add_to_policy(
            iam.PolicyStatement(sid="InvokeTrigger", actions=["lambda:InvokeFunction"], resources=[function_arn])
        )
        # A schedule's execution role delivers its dead-letter events ("Configuring a dead-letter
        # queue for a schedule", https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html);
        # the queue is encrypted with the automation key.
        self.role.add_to_policy(
            iam.PolicyStatement(sid="DeadLetter", actions=["sqs:SendMessage"], resources=[dead_letter_queue.queue_arn])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DeadLetterKey", actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn]
            )
        )
        acknowledge(
            self.role,
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "The inline policy names this role's three needs (invoke the trigger, dead-letter, the queue's key); "
            "a managed policy would add a resource with no reuse.",
        )

    @property
    def schedule_arns(self) -> str:
        """The ARNs of every schedule in the group (`schedule/<group>/<name>`, same reference)."""
        return Stack.of(self).format_arn(service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*")

    def grant_scheduling(self, function: PlatformFunction) -> None:
        """Tell `function` the group, role and queue, and let it create schedules in the group with the role."""
        function.function.add_environment(env_names.RETRAINING_TIMER_GROUP_NAME, self.group_name)
        function.function.add_environment(env_names.RETRAINING_TIMER_ROLE_ARN, self.role.role_arn)
        function.function.add_environment(env_names.RETRAINING_TIMER_DEAD_LETTER_ARN, self.dead_letter_queue.queue_arn)
        function.allow(
            iam.PolicyStatement(
                sid="ScheduleWindowEnds", actions=["scheduler:CreateSchedule"], resources=[self.schedule_arns]
            ),
            "One schedule per model and window end is created at run time, in this group only.",
        )
        # Creating a schedule passes its execution role to EventBridge Scheduler; AWS's own
        # AmazonEventBridgeSchedulerFullAccess policy grants iam:PassRole with
        # iam:PassedToService scheduler.amazonaws.com for that reason
        # (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEventBridgeSchedulerFullAccess.html).
        function.allow(
            iam.PolicyStatement(
                sid="PassTimerRole",
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
