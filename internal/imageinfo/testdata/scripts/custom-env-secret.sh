#!/bin/sh
set -e

# Reads a variable from the file named by VAR_FILE when it is set.
env_secret() {
	name=$1
	eval file="\${${1}_FILE:-}"
	if [ -n "$file" ]; then
		value=$(cat "$file")
		export "$name"="$value"
	fi
}

env_secret API_TOKEN; env_secret "SMTP_PASS"
[ -n "$DEBUG" ] && env_secret 'DEBUG_KEY'
for v in DB_PASSWORD REDIS_PASSWORD; do
	env_secret "$v"
done

SESSION_SECRET=$(cat "$SESSION_SECRET_FILE")
export SESSION_SECRET

exec "$@"
