"""Stateless access: the persona roles people assume to work on the platform."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.persona_roles import PersonaRoles, PlatformResources


class AccessStack(Stack):
    """DataScientist, MLOpsEngineer and Auditor roles with their ARNs as outputs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        resources: PlatformResources,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.personas = PersonaRoles(
            self,
            "Personas",
            resources=resources,
            trusted_principals=config.personas.trusted_principals,
            max_session_hours=config.personas.max_session_hours,
        )
        CfnOutput(self, "DataScientistRoleArn", value=self.personas.data_scientist.role_arn)
        CfnOutput(self, "MLOpsEngineerRoleArn", value=self.personas.mlops_engineer.role_arn)
        CfnOutput(self, "AuditorRoleArn", value=self.personas.auditor.role_arn)
