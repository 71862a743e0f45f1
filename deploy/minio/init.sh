#!/bin/sh
# The MinIO half of docker-compose.yml's provisioning, run once by the
# minio-init job with the root credentials: one IAM user per warcflow role,
# each with its policy (deploy/minio/<role>.json, made by
# `python -m archivers.store.policy ROLE warcflow` and checked against it by
# tests/unit/test_access_rules.py). The bucket, its Object Lock and its
# default retention are `warcflow provision`'s (the init job).
# Re-running it sets the secrets again: that is how they are rotated.
set -eu
mc alias set wf http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
for role in worker viewer operator; do
  case $role in
    worker) secret=$S3_WORKER_SECRET ;;
    viewer) secret=$S3_VIEWER_SECRET ;;
    operator) secret=$S3_OPERATOR_SECRET ;;
  esac
  mc admin policy create wf "warcflow-$role" "/policies/$role.json"
  mc admin user add wf "$role" "$secret"
  # attaching an attached policy is an error; the state wanted is reached either way
  mc admin policy attach wf "warcflow-$role" --user "$role" || true
done
