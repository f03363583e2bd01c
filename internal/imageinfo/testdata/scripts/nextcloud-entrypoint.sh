#!/bin/sh
set -eu

# usage: file_env VAR [DEFAULT]
#    ie: file_env 'XYZ_DB_PASSWORD' 'example'
file_env() {
    local var="$1"
    local fileVar="${var}_FILE"
    local def="${2:-}"
    local varValue=$(env | grep -E "^${var}=" | sed -E -e "s/^${var}=//")
    local fileVarValue=$(env | grep -E "^${fileVar}=" | sed -E -e "s/^${fileVar}=//")
    if [ -n "${varValue}" ] && [ -n "${fileVarValue}" ]; then
        echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
        exit 1
    fi
    if [ -n "${varValue}" ]; then
        export "$var"="${varValue}"
    elif [ -n "${fileVarValue}" ]; then
        export "$var"="$(cat "${fileVarValue}")"
    elif [ -n "${def}" ]; then
        export "$var"="$def"
    fi
    unset "$fileVar"
}

if expr "$1" : "apache" 1>/dev/null || [ "$1" = "php-fpm" ]; then
    if [ -n "${REDIS_HOST+x}" ]; then
        file_env REDIS_HOST_PASSWORD
    fi
    installed_version="0.0.0.0"
    if [ "$installed_version" = "0.0.0.0" ]; then
        file_env NEXTCLOUD_ADMIN_PASSWORD
        file_env NEXTCLOUD_ADMIN_USER
        if [ -n "${SQLITE_DATABASE+x}" ]; then
            echo "Installing with SQLite database"
        fi
        file_env MYSQL_DATABASE
        file_env MYSQL_PASSWORD
        file_env MYSQL_USER
        file_env POSTGRES_DB
        file_env POSTGRES_PASSWORD
        file_env POSTGRES_USER
    fi
    run_path post-installation
fi

exec "$@"
