package compose

import (
	"strings"
)

// FileVarKind says what the value of a file variable must be.
type FileVarKind string

const (
	// FileVarPath: the value is the path of the file, e.g.
	// POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password.
	FileVarPath FileVarKind = "path"
	// FileVarName: the value is the name of a secret under /run/secrets, as
	// pihole's WEBPASSWORD_FILE=pihole_password.
	FileVarName FileVarKind = "name"
)

// FileSupport is the variable an image reads instead of a secret variable.
type FileSupport struct {
	Variable string      `json:"variable"`
	Kind     FileVarKind `json:"kind"`
	// Source says where the fact comes from: "built-in" or "x-vault".
	Source string `json:"source"`
}

// imageFiles describes which variables of one image family can be read from
// a file. Either vars (each VAR is also read as VAR+suffix) or match decides.
type imageFiles struct {
	images []string
	vars   []string
	suffix string // "_FILE" unless set
	kind   FileVarKind
	// match handles images whose convention covers a whole prefix
	// (grafana GF_*__FILE, gitea GITEA__*__FILE, linuxserver FILE__*).
	match func(variable string) (string, bool)
	// hint is added to the reason when the image has no file variant for a
	// variable, to say what it reads instead.
	hint func(variable string) string
}

var (
	postgresVars = []string{"POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_INITDB_ARGS"}
	mysqlVars    = []string{"MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "MYSQL_USER", "MYSQL_DATABASE", "MYSQL_ROOT_HOST"}
)

// builtinFiles is what the official images' entrypoints do (their file_env
// helpers), checked against the images' documentation on Docker Hub. It is
// deliberately short: claiming support an image lacks would break a
// container at start, so an image missing here is reported, not rewritten,
// and a project can declare more in x-vault.
var builtinFiles = []imageFiles{
	{images: []string{"postgres", "postgis/postgis", "timescale/timescaledb"}, vars: postgresVars},
	{images: []string{"mysql", "percona", "percona/percona-server"}, vars: mysqlVars},
	{images: []string{"mariadb"}, vars: append([]string{
		"MARIADB_ROOT_PASSWORD", "MARIADB_PASSWORD", "MARIADB_USER", "MARIADB_DATABASE",
		"MARIADB_ROOT_HOST", "MARIADB_ROOT_PASSWORD_HASH", "MARIADB_PASSWORD_HASH",
	}, mysqlVars...)},
	{images: []string{"mongo"}, vars: []string{"MONGO_INITDB_ROOT_USERNAME", "MONGO_INITDB_ROOT_PASSWORD"}},
	// mongo-express 1.x reads these through getFileEnv; ME_CONFIG_MONGODB_URL
	// it reads directly, so a URL with a password stays reported.
	{images: []string{"mongo-express"}, vars: []string{
		"ME_CONFIG_BASICAUTH_USERNAME", "ME_CONFIG_BASICAUTH_PASSWORD",
		"ME_CONFIG_MONGODB_ADMINUSERNAME", "ME_CONFIG_MONGODB_ADMINPASSWORD",
	}},
	// wp-config-docker.php reads every WORDPRESS_* through getenv_docker,
	// which tries NAME_FILE first: DB settings, keys and salts alike.
	{images: []string{"wordpress"}, match: func(v string) (string, bool) {
		if strings.HasPrefix(v, "WORDPRESS_") {
			return v + "_FILE", true
		}
		return "", false
	}},
	{images: []string{"nextcloud"}, vars: []string{
		"MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
		"NEXTCLOUD_ADMIN_USER", "NEXTCLOUD_ADMIN_PASSWORD", "REDIS_HOST_PASSWORD", "SMTP_PASSWORD",
		"OBJECTSTORE_S3_KEY", "OBJECTSTORE_S3_SECRET",
	}},
	{images: []string{"joomla"}, vars: []string{"JOOMLA_DB_PASSWORD"}},
	{images: []string{"redmine"}, vars: []string{
		"REDMINE_DB_MYSQL", "REDMINE_DB_POSTGRES", "REDMINE_DB_SQLSERVER", "REDMINE_DB_PORT",
		"REDMINE_DB_USERNAME", "REDMINE_DB_PASSWORD", "REDMINE_DB_DATABASE", "REDMINE_DB_ENCODING",
		"REDMINE_SECRET_KEY_BASE",
	}},
	{images: []string{"yourls"}, vars: []string{"YOURLS_DB_PASS", "YOURLS_USER", "YOURLS_PASS"}},
	{images: []string{"friendica"}, vars: []string{"MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"}},
	{images: []string{"espocrm"}, vars: []string{"ESPOCRM_DATABASE_PASSWORD", "ESPOCRM_ADMIN_PASSWORD"}},
	{images: []string{"dpage/pgadmin4"}, vars: []string{"PGADMIN_DEFAULT_PASSWORD"}},
	// Grafana reads any GF_<SECTION>_<KEY> from GF_<SECTION>_<KEY>__FILE:
	// two underscores, unlike the official images.
	{images: []string{"grafana/grafana", "grafana/grafana-oss", "grafana/grafana-enterprise"}, match: func(v string) (string, bool) {
		if strings.HasPrefix(v, "GF_") {
			return v + "__FILE", true
		}
		return "", false
	}},
	// pihole v5 reads /run/secrets/$WEBPASSWORD_FILE: a secret name, not a path.
	{images: []string{"pihole/pihole"}, vars: []string{"WEBPASSWORD"}, kind: FileVarName},
	{images: []string{"gitea/gitea"}, match: func(v string) (string, bool) {
		if strings.HasPrefix(v, "GITEA__") {
			return v + "__FILE", true
		}
		return "", false
	}, hint: func(v string) string {
		if strings.HasPrefix(v, "DB_") {
			return "gitea reads GITEA__database__" + strings.TrimPrefix(v, "DB_") + "__FILE; rename the variable to migrate it"
		}
		return ""
	}},
	// linuxserver.io images load FILE__NAME=/path into NAME at start.
	{images: []string{"linuxserver/*"}, match: func(v string) (string, bool) { return "FILE__" + v, true }},
}

// NormalizeImage reduces an image reference to the repository path the
// file-support table is keyed by: no registry, tag, digest or "library/".
// "docker.io/library/postgres:16" and "postgres@sha256:..." are "postgres".
func NormalizeImage(ref string) string {
	ref = strings.TrimSpace(ref)
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i >= 0 && !strings.Contains(ref[i:], "/") {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) > 1 && (strings.ContainsAny(parts[0], ".:") || parts[0] == "localhost") {
		parts = parts[1:]
	}
	if len(parts) > 1 && parts[0] == "library" {
		parts = parts[1:]
	}
	return strings.ToLower(strings.Join(parts, "/"))
}

func (f imageFiles) covers(image string) bool {
	for _, i := range f.images {
		if i == image || (strings.HasSuffix(i, "/*") && strings.HasPrefix(image, strings.TrimSuffix(i, "*"))) {
			return true
		}
	}
	return false
}

// lookup returns the file variable of variable for this image family.
func (f imageFiles) lookup(variable string) (FileSupport, bool) {
	kind := f.kind
	if kind == "" {
		kind = FileVarPath
	}
	if f.match != nil {
		if fv, ok := f.match(variable); ok {
			return FileSupport{Variable: fv, Kind: kind, Source: "built-in"}, true
		}
		return FileSupport{}, false
	}
	suffix := f.suffix
	if suffix == "" {
		suffix = "_FILE"
	}
	for _, v := range f.vars {
		if v == variable {
			return FileSupport{Variable: variable + suffix, Kind: kind, Source: "built-in"}, true
		}
	}
	return FileSupport{}, false
}

// BuiltinFileSupport returns the file variable the image reads for
// variable, from the built-in table.
func BuiltinFileSupport(image, variable string) (FileSupport, bool) {
	image = NormalizeImage(image)
	for _, f := range builtinFiles {
		if f.covers(image) {
			return f.lookup(variable)
		}
	}
	return FileSupport{}, false
}

// builtinHint says what the image reads instead, when it is known.
func builtinHint(image, variable string) string {
	image = NormalizeImage(image)
	for _, f := range builtinFiles {
		if f.covers(image) && f.hint != nil {
			return f.hint(variable)
		}
	}
	return ""
}

// knownImage reports whether the built-in table knows the image at all.
func knownImage(image string) bool {
	image = NormalizeImage(image)
	for _, f := range builtinFiles {
		if f.covers(image) {
			return true
		}
	}
	return false
}
