"""The EventBridge envelope the handlers parse.

Powertools' model requires every envelope field. The handlers only need `id`, `source`,
`detail-type`, `resources` and `detail`; insisting on `account` would reject events from
replays and test harnesses that leave it out without making any decision safer.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models.event_bridge import EventBridgeModel as _PowertoolsModel


class EventBridgeModel(_PowertoolsModel):
    """Powertools' EventBridge model with `account` optional."""

    account: str = ""
