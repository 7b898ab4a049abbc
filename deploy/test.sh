#!/usr/bin/env bash
# Checks the Terraform module in deploy/ with what works offline (providers cannot be
# downloaded here, so `terraform init/validate/plan` cannot run):
#   1. python-hcl2 parses every file, and deploy/test_deploy.py asserts the settings the design
#      depends on (on-demand stream, arm64 provided.al2023, the event source mapping's batching,
#      bisection, ReportBatchItemFailures and failure queue, TTL, notifications, least-privilege
#      IAM, alarms, the distributed map's concurrency limit);
#   2. checkov, which must report no failed check: every check the module does not meet is
#      skipped in place with a `#checkov:skip=ID:reason` comment, and the reasons are printed;
#   3. `terraform fmt -check`, when a terraform binary is on PATH.
# The tools live in .venv (python-hcl2) and .venv/checkov; scripts/setup-test-services installs
# them.
set -euo pipefail
cd "$(dirname "$0")"

PY=../.venv/bin/python
CHECKOV=../.venv/checkov/bin/checkov
for tool in "$PY" "$CHECKOV"; do
  if [ ! -x "$tool" ]; then
    echo "deploy/test.sh: $tool is missing: run scripts/setup-test-services" >&2
    exit 1
  fi
done

echo "deploy: python-hcl2 assertions"
"$PY" test_deploy.py

echo "deploy: checkov"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
# checkov exits 1 when a check fails; the summary below decides.
"$CHECKOV" -d . --framework terraform --skip-download --compact -o json >"$report" || true
"$PY" - "$report" <<'PYEOF'
import json, sys
with open(sys.argv[1]) as f:
    report = json.load(f)
reports = report if isinstance(report, list) else [report]
failed, skipped, passed = [], [], 0
for r in reports:
    results = r.get("results", {})
    failed += results.get("failed_checks", [])
    skipped += results.get("skipped_checks", [])
    passed += r.get("summary", {}).get("passed", 0)
for c in failed:
    print(f"  FAILED {c['check_id']} {c['resource']}: {c['check_name']}")
unexplained = [c for c in skipped if not (c.get("check_result", {}).get("suppress_comment") or "").strip()]
for c in skipped:
    reason = c.get("check_result", {}).get("suppress_comment") or ""
    print(f"  skipped {c['check_id']} {c['resource']}: {reason}")
print(f"checkov: {passed} passed, {len(failed)} failed, {len(skipped)} skipped with a reason")
if failed or unexplained or passed == 0:
    sys.exit(1)
PYEOF

if command -v terraform >/dev/null 2>&1; then
  echo "deploy: terraform fmt -check"
  # fmt needs no CLI configuration; an empty one avoids a warning about a missing file.
  TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -diff .
else
  echo "deploy: no terraform on PATH; fmt not checked"
fi
echo "deploy: ok"
