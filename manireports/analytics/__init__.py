"""Analytics: the engagement score and explainable at-risk rules.

- `settings`: [analytics.engagement] and [analytics.at_risk], checked (weights sum to 1.0);
- `inputs`: who is scored and what they did in the window, from Moodle and the daily totals;
- `scoring`: normalisation against course references, the score and the four rules;
- `rows`: the rows of the user_engagement and at_risk reports and their --explain columns.

How each input is measured and normalised is written for operators in docs/analytics.md.
"""

from __future__ import annotations

from manireports.analytics.rows import (
    AT_RISK_COLUMNS,
    AT_RISK_EXPLAIN_COLUMNS,
    ENGAGEMENT_COLUMNS,
    ENGAGEMENT_EXPLAIN_COLUMNS,
    Analysis,
    analyse,
    at_risk_rows,
    engagement_rows,
)
from manireports.analytics.settings import EngagementSettings, RiskSettings

__all__ = [
    "AT_RISK_COLUMNS",
    "AT_RISK_EXPLAIN_COLUMNS",
    "ENGAGEMENT_COLUMNS",
    "ENGAGEMENT_EXPLAIN_COLUMNS",
    "Analysis",
    "EngagementSettings",
    "RiskSettings",
    "analyse",
    "at_risk_rows",
    "engagement_rows",
]
