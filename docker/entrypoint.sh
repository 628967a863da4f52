#!/bin/sh
# Docker secrets (files in /run/secrets) named like an environment variable become that variable:
# tusd_jwt_secret -> TUSD_JWT_SECRET, aws_secret_access_key -> AWS_SECRET_ACCESS_KEY,
# pgpassword -> PGPASSWORD (asyncpg reads it when TUSD_DATABASE_URL has no password). The master
# key needs none of this: TUSD_MASTER_KEY_FILE names its secret file directly. SECRETS_DIR moves
# the folder (the stack's test runs this script outside a container).
set -eu
secrets=${SECRETS_DIR:-/run/secrets}
for file in "$secrets"/tusd_* "$secrets"/aws_* "$secrets"/pgpassword; do
  [ -f "$file" ] || continue
  name=$(basename "$file" | tr '[:lower:]' '[:upper:]')
  value=$(cat "$file")
  export "$name=$value"
done
exec "$@"
