#!/bin/sh
set -e
# Every VAR_FILE in the environment becomes VAR.
printenv | grep -E '^APP_[A-Z_]+_FILE=' | while IFS='=' read -r name path; do
	var="${name%_FILE}"
	export "$var"="$(cat "$path")"
	echo "export $var" >> /tmp/env
done
. /usr/local/lib/app/helpers.sh
exec /usr/local/bin/app "$@"
