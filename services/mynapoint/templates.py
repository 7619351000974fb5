"""Built-in program templates: the national マイナポイント campaigns as the seed describes them (JST windows).

The policy document's ポイントの対象となるカード申請期限 is enforced: a program from a template refuses a resident
whose roster entry has no card_applied_on, or one after the deadline (common/eligibility.py)."""

from datetime import date, datetime
from typing import Any

from common.timeutil import JST


def _jst(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=JST)


# 第1弾: cards applied for by the end of April 2021 (令和3年4月末); 第2弾: by the end of February 2023 (令和5年2月末).
FIRST_ROUND_CARD_DEADLINE = {"card_applied_by": date(2021, 4, 30).isoformat()}
SECOND_ROUND_CARD_DEADLINE = {"card_applied_by": date(2023, 2, 28).isoformat()}

TEMPLATES: dict[str, dict[str, Any]] = {
    "mynapoint-1": {
        "description": "マイナポイント第1弾: 25% of charges or purchases, up to 5,000 points "
        "(July 2020 – Dec 2021; card applied for by 30 April 2021)",
        "kind": "premium",
        "premium_rate": "1/4",
        "per_person_cap": 5000,
        "opens_at": _jst(2020, 7, 1),
        "closes_at": _jst(2022, 1, 1),
        "eligibility": FIRST_ROUND_CARD_DEADLINE,
    },
    "mynapoint-2-new-card": {
        "description": "マイナポイント第2弾 ①: new card, 25% of charges or purchases, up to 5,000 points "
        "(applications Jan 2022 – 31 May 2023; card applied for by 28 Feb 2023)",
        "kind": "premium",
        "premium_rate": "1/4",
        "per_person_cap": 5000,
        "opens_at": _jst(2022, 1, 1),
        "closes_at": _jst(2023, 6, 1),
        "eligibility": SECOND_ROUND_CARD_DEADLINE,
    },
    "mynapoint-2-health-insurance": {
        "description": "マイナポイント第2弾 ②: health-insurance use registration, 7,500 points "
        "(applications 30 June 2022 – 31 May 2023; card applied for by 28 Feb 2023)",
        "kind": "fixed",
        "points_per_person": 7500,
        "opens_at": _jst(2022, 6, 30),
        "closes_at": _jst(2023, 6, 1),
        "eligibility": SECOND_ROUND_CARD_DEADLINE,
    },
    "mynapoint-2-public-funds-account": {
        "description": "マイナポイント第2弾 ③: public-funds receiving account registration, 7,500 points "
        "(applications 30 June 2022 – 31 May 2023; card applied for by 28 Feb 2023)",
        "kind": "fixed",
        "points_per_person": 7500,
        "opens_at": _jst(2022, 6, 30),
        "closes_at": _jst(2023, 6, 1),
        "eligibility": SECOND_ROUND_CARD_DEADLINE,
    },
}
