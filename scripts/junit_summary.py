"""The last lines of `./scripts/test`: how many tests ran, how many skipped and why (from pytest's
JUnit XML), so a skip is never mistaken for a pass. Fails when no test ran at all.

    python scripts/junit_summary.py .tmp/junit.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter


def summary(path: str) -> tuple[list[str], bool]:
    """The lines to print, and whether any test ran."""
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, f"{path} holds no test suite"
    skipped = int(suite.get("skipped", 0))
    ran = int(suite.get("tests", 0)) - skipped
    reasons: Counter[str] = Counter()
    for case in suite.iter("testcase"):
        skip = case.find("skipped")
        if skip is not None:
            reasons[(skip.get("message") or "no reason given").removeprefix("skipped ").strip()] += 1
    lines = [f"== {ran} tests ran, {skipped} skipped"]
    lines += [f"   {count} skipped: {reason}" for reason, count in reasons.most_common()]
    return lines, ran > 0


if __name__ == "__main__":
    shown, any_ran = summary(sys.argv[1])
    print("\n".join(shown))
    sys.exit(0 if any_ran else "no test ran: failing on purpose")
