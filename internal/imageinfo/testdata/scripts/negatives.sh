#!/bin/bash
set -e
# file_env 'COMMENTED_OUT'
# This image reads ${VAR}_FILE... no, it does not.
CONFIG_FILE=/etc/app/app.conf
SETTINGS=$(cat "$CONFIG_FILE")
LOG_FILE=/var/log/app.log
LOG=$(cat "$LOG_FILE")

# A function that only unsets the _FILE variable, never reads it.
drop_file_var() {
	local var="$1"
	unset "${var}_FILE"
}
drop_file_var 'NOT_READ'

# A loop that greps _FILE names but only prints them.
for f in $(env | grep '_FILE=' | cut -d= -f1); do
	echo "found $f"
done

# A loop over an excluded pattern.
for f in $(env | grep -v '^X_.*__FILE='); do
	export "$f"="$(cat /dev/null)"
done

# A loop over names built at run time.
for v in $(compgen -e); do
	read_file_env "$v"
done

cat <<< "$SETTINGS" > /dev/null
tr -d '\n' <<EOT
file_env 'IN_HEREDOC'
EOT
exec /usr/bin/app
