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
kubectl apply -f "$here/sharded-plan.yaml"
until [ "$(condition oci-audit-plan Complete)" = True ]; do
    if [ "$(condition oci-audit-plan Failed)" = True ]; then
        echo "oci-audit: the plan failed; see kubectl logs job/oci-audit-plan" >&2
        exit 2
    fi
    sleep 10
done
kubectl apply -f "$here/sharded-audit.yaml"
until [ "$(condition oci-audit-shards Complete)" = True ]; do
    if [ "$(condition oci-audit-shards Failed)" = True ]; then
        echo "oci-audit: a shard failed; see kubectl logs -l job-name=oci-audit-shards" >&2
        exit 2
    fi
    sleep 10
done
kubectl apply -f "$here/sharded-merge.yaml"
# The merge exits 1 on findings, which fails its Job: wait for either end.
until [ -n "$(kubectl get job oci-audit-merge -o jsonpath='{.status.succeeded}{.status.failed}')" ]; do
    sleep 5
done
kubectl logs job/oci-audit-merge
code=$(kubectl get pods -l job-name=oci-audit-merge \
    -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}')
exit "${code:-2}"
