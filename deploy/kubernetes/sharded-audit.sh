#!/usr/bin/env bash
# Runs the plan (sharded-plan.yaml), then the shards of sharded-audit.yaml, waits for
# every shard, then the merge, and prints its report.
# Exits with the merge's exit code (0 clean, 1 findings, 2 could not run).
set -euo pipefail
here=$(dirname "$0")
kubectl delete job oci-audit-plan oci-audit-shards oci-audit-merge --ignore-not-found
# `kubectl wait --for=condition=complete` would sit out its timeout on a Job that failed
# (an index out of retries): wait for whichever condition comes.
condition() { # JOB TYPE -> True when the Job has that condition
    kubectl get job "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"
}
# run FILE JOB WHAT — applies FILE and waits for its Job JOB to complete; exits 2 saying
# where WHAT's logs are when it fails.
run() {
    kubectl apply -f "$here/$1"
    until [ "$(condition "$2" Complete)" = True ]; do
        if [ "$(condition "$2" Failed)" = True ]; then
            echo "oci-audit: $3 failed; see kubectl logs -l job-name=$2" >&2
            exit 2
        fi
        sleep 10
    done
}
run sharded-plan.yaml oci-audit-plan "the plan"
run sharded-audit.yaml oci-audit-shards "a shard"
kubectl apply -f "$here/sharded-merge.yaml"
# The merge exits 1 on findings, which fails its Job: wait for either end.
until [ -n "$(kubectl get job oci-audit-merge -o jsonpath='{.status.succeeded}{.status.failed}')" ]; do
    sleep 5
done
kubectl logs job/oci-audit-merge
code=$(kubectl get pods -l job-name=oci-audit-merge \
    -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
exit "${code:-2}"
