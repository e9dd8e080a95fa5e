#!/bin/sh
# image-config.sh CONFIG: CONFIG (the shipped config.yaml) as the Docker
# image ships it, on stdout. The Dockerfile runs it in its build stage and
# deploy/deploy_test.go runs it on every `make test`, so that what the test
# checks is what the image holds.
#
# - The development secrets' defaults are taken out: the container refuses
#   to start until IIMMPACT_WEBHOOK_SECRET, CATALOG360_WEBHOOK_KEY and
#   CATALOG_SYNC_SECRET are set, instead of accepting published dev keys.
# - The catalog-sync subscriber's URL comes from CATALOG_SYNC_URL, with no
#   default: the shipped http://127.0.0.1:8000 would be the container itself.
#
# It fails, printing the offending lines, if a development secret or a
# subscriber on loopback is left.
set -eu
out=$(sed -E \
  -e 's/\$\{([A-Z0-9_]+):-(dev-[^}]*|whsec_[^}]*)\}/${\1}/g' \
  -e 's#^(    url: )"http://127\.0\.0\.1:8000/hooks/catalog"#\1"${CATALOG_SYNC_URL}"#' \
  "$1")
if printf '%s\n' "$out" | grep -n 'dev-\|:-whsec_' >&2; then
  echo "image-config.sh: development secrets left in $1" >&2
  exit 1
fi
if printf '%s\n' "$out" | grep -nE '^[[:space:]]*url:[[:space:]]*"?https?://(127\.|localhost|\[::1\]|0\.0\.0\.0|\[::\])' >&2; then
  echo "image-config.sh: a subscriber on loopback in $1 would be the container itself" >&2
  exit 1
fi
printf '%s\n' "$out"
