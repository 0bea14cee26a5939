"""Audit the exact dependency set CI installed against a vulnerability database.

The set audited is the virtual environment's ``pip freeze`` (the project itself
excluded): every pinned version the tests ran with, so the audit and the tests
speak of the same packages. ``pip-audit`` asks OSV first and PyPI's JSON API
second; the first service that answers for at least one package is the one used.

Outcomes, each said in one line that CI's log shows:
- a known vulnerability in any package: exit 1, with the advisories listed;
- no service could answer (no network to it, or it answered "not found" for
  every package, as a mirror without per-release pages does): the audit is
  SKIPPED, said loudly with the reason, exit 0; with ``AUDIT_REQUIRED=1`` it
  fails instead (exit 2), for a machine that must not ship unaudited;
- otherwise: how many packages were audited, by which service, exit 0.

The offline half of the promise (minimum versions that exclude the known
advisories of Pillow, OpenCV and the request parsers) is
``tests/test_dependency_floors.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SERVICES = ("osv", "pypi")
TIMEOUT_S = 300


def frozen_requirements(python: Path) -> str:
    """The installed set, pinned, without the editable project itself."""
    out = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return "".join(line + "\n" for line in out.splitlines() if "==" in line)


def run_audit(pip_audit: Path, requirements: Path, service: str) -> tuple[dict | None, str]:
    """One pip-audit run; the parsed report, or None and why it gave none."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        try:
            proc = subprocess.run(
                [
                    str(pip_audit),
                    "--vulnerability-service",
                    service,
                    "--requirement",
                    str(requirements),
                    "--no-deps",
                    "--disable-pip",
                    "--format",
                    "json",
                    "--progress-spinner",
                    "off",
                    "--timeout",
                    "20",
                    "--output",
                    report.name,
                ],
                check=False,  # exit 1 means "vulnerabilities found": judged below
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            return None, f"{service}: no answer within {TIMEOUT_S} s"
        text = Path(report.name).read_text()
        if proc.returncode not in (0, 1) or not text.strip():
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            return None, f"{service}: unreachable ({last[:200]})"
        return json.loads(text), ""


def main() -> int:
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else ".venv")
    python, pip_audit = venv / "bin" / "python", venv / "bin" / "pip-audit"
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "installed.txt"
        requirements.write_text(frozen_requirements(python))
        total = len(requirements.read_text().splitlines())
        reasons: list[str] = []
        for service in SERVICES:
            report, why = run_audit(pip_audit, requirements, service)
            if report is None:
                reasons.append(why)
                continue
            deps = report["dependencies"]
            audited = [d for d in deps if "skip_reason" not in d]
            if not audited:
                reasons.append(f"{service}: answered 'not found' for all {len(deps)} packages")
                continue
            return judge(service, audited, len(deps) - len(audited))
    print(
        f"dependency audit SKIPPED: no vulnerability service answered for the {total} "
        f"installed packages ({'; '.join(reasons)}). The decoder floors are still checked "
        "offline by tests/test_dependency_floors.py."
    )
    return 2 if os.environ.get("AUDIT_REQUIRED") == "1" else 0


def judge(service: str, audited: list[dict], skipped: int) -> int:
    """Print the verdict for the packages a service answered for; 1 on any advisory."""
    vulnerable = [d for d in audited if d.get("vulns")]
    if vulnerable:
        print(f"dependency audit FAILED ({service}): known vulnerabilities in installed packages:")
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions") or ["no fix yet"])
                print(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixed})")
        return 1
    print(
        f"dependency audit OK ({service}): {len(audited)} installed packages, no known "
        f"vulnerability ({skipped} could not be looked up)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
