<?php
/**
 * WordPress configuration read from the environment (Docker).
 * getenv_docker('NOT_A_CALL', '') in a comment does not count.
 */

// looks up "env_FILE", then "env", then the default
if (!function_exists('getenv_docker')) {
	function getenv_docker($env, $default) {
		if ($fileEnv = getenv($env . '_FILE')) {
			return rtrim(file_get_contents($fileEnv), "\r\n");
		}
		else if (($val = getenv($env)) !== false) {
			return $val;
		}
		return $default;
	}
}

// getenv_docker('COMMENTED_OUT', '');
define( 'DB_NAME', getenv_docker('WORDPRESS_DB_NAME', 'wordpress') );
define( 'DB_USER', getenv_docker('WORDPRESS_DB_USER', 'example username') );
define( 'DB_PASSWORD', getenv_docker('WORDPRESS_DB_PASSWORD', 'example password') );
define( 'DB_HOST', getenv_docker('WORDPRESS_DB_HOST', 'mysql') );
define( 'AUTH_KEY',         getenv_docker('WORDPRESS_AUTH_KEY',         'put your unique phrase here') );
define( 'NONCE_SALT',       getenv_docker('WORDPRESS_NONCE_SALT',       'put your unique phrase here') );
$table_prefix = getenv_docker('WORDPRESS_TABLE_PREFIX', 'wp_');

function env_only($name) {
	return getenv($name);
}
define( 'WP_HOME', env_only('WORDPRESS_HOME') );

if (isset($_SERVER['HTTP_X_FORWARDED_PROTO']) && strpos($_SERVER['HTTP_X_FORWARDED_PROTO'], 'https') !== false) {
	$_SERVER['HTTPS'] = 'on';
}
require_once ABSPATH . 'wp-settings.php';
