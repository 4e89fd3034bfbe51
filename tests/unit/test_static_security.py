"""The static security check: bandit over the project's code finds nothing that is not
justified in place (``# nosec <id>`` with the reason on the same line)."""
from __future__ import annotations

import json
import re
import subprocess  # nosec B404
import sys

from bot.config import PROJECT_ROOT

PACKAGES = ["bot", "actions", "speech", "knowledge", "bench"]


def test_bandit_finds_nothing_unjustified():
    result = subprocess.run(  # nosec B603 - our own interpreter and fixed arguments
        [sys.executable, "-m", "bandit", "-c", "pyproject.toml", "-r", *PACKAGES, "-f", "json", "-q"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    report = json.loads(result.stdout)
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_text']}" for r in report["results"]]
    assert findings == [], "\n".join(findings)
    assert not report["errors"], report["errors"]


def test_every_nosec_says_why():
    """A bare ``# nosec`` hides a finding without a reason: each one names the check and a reason."""
    bare = []
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                match = re.search(r"#\s*nosec\b(.*)$", line)
                if match and not re.match(r"\s+B\d{3}(,\s*B\d{3})*\s+-\s+\S", match.group(1)):
                    bare.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert bare == [], "\n".join(bare)
