package migrate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/compose"
)

var fuzzImages = []string{"postgres:16", "mariadb:11", "wordpress", "grafana/grafana", "myorg/app:1", "pihole/pihole", "mysql"}

// fuzzProject writes a compose project from fuzz input: services named by
// the comma-separated names, each with an image picked by shape, and the
// env entries ("KEY=VALUE" lines, "KEY" alone for a pass-through) spread
// over them in map or list form, written plain, quoted or raw; an anchor
// shared by the first two services when shape asks; dotenv becomes .env.
// The top four bits of shape pick the first service's image.
func fuzzProject(dir, names, entries, dotenv string, shape uint16) {
	var svcs []string
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" && len(svcs) < 4 {
			svcs = append(svcs, n)
		}
	}
	if len(svcs) == 0 {
		svcs = []string{"app"}
	}
	lines := strings.Split(entries, "\n")
	if len(lines) > 12 {
		lines = lines[:12]
	}
	quote := func(s string, style uint16) string {
		switch style % 4 {
		case 1:
			return "'" + strings.ReplaceAll(s, "'", "''") + "'"
		case 2:
			return fmt.Sprintf("%q", s)
		case 3:
			return s // raw: whatever YAML makes of it
		}
		if strings.ContainsAny(s, ":#'\"{}[],&*!|>%@`\\\n\t") || strings.TrimSpace(s) != s || s == "" {
			return fmt.Sprintf("%q", s)
		}
		return s
	}
	var b strings.Builder
	anchored := shape&0x100 != 0 && len(svcs) > 1 && len(lines) > 0
	if anchored {
		// The first entry lives in an anchor both first services merge.
		k, v, _ := strings.Cut(lines[0], "=")
		fmt.Fprintf(&b, "x-shared: &shared\n  %s: %s\n", quote(k, 0), quote(v, shape>>10))
		lines = lines[1:]
	}
	b.WriteString("services:\n")
	for i, s := range svcs {
		fmt.Fprintf(&b, "  %s:\n    image: %s\n    environment:\n", quote(s, 0), fuzzImages[(int(shape>>12)+i)%len(fuzzImages)])
		list := shape&(1<<(i%8)) != 0
		wrote := false
		if anchored && i < 2 && !list {
			b.WriteString("      <<: *shared\n")
			wrote = true
		}
		for j, l := range lines {
			if j%len(svcs) != i {
				continue
			}
			k, v, hasValue := strings.Cut(l, "=")
			style := shape >> (2 * (j % 6))
			switch {
			case list && hasValue:
				fmt.Fprintf(&b, "      - %s\n", quote(k+"="+v, style))
			case list:
				fmt.Fprintf(&b, "      - %s\n", quote(k, 0))
			case hasValue:
				fmt.Fprintf(&b, "      %s: %s\n", quote(k, 0), quote(v, style))
			default:
				fmt.Fprintf(&b, "      %s:\n", quote(k, 0))
			}
			wrote = true
		}
		if !wrote {
			b.WriteString("      {}\n")
		}
	}
	os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(b.String()), 0o600)
	if dotenv != "" {
		os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600)
	}
}

// FuzzMigrate builds small projects and checks that Make never panics,
// never plans a file compose-go rejects, and never loses or changes a
// variable it does not migrate.
func FuzzMigrate(f *testing.F) {
	f.Add("db,web", "POSTGRES_PASSWORD=S3cret-pw-1\nPOSTGRES_USER=app\nWORDPRESS_DB_PASSWORD=S3cret-pw-1", "", uint16(0x6000))
	f.Add("db", "MARIADB_ROOT_PASSWORD=${ROOT}\nMARIADB_PASSWORD\nTZ=UTC", "ROOT=r00t-Pw-9\nMARIADB_PASSWORD=x-Pw-2\n", uint16(0x1003))
	f.Add("a,b,c", "WORDPRESS_AUTH_KEY=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nDB_URL=postgres://u:pw@h/db\nGF_SECURITY_ADMIN_PASSWORD=adm1n-Pw", "", uint16(0x2105))
	f.Add("x,y", "POSTGRES_PASSWORD=shared-Pw-7\nPOSTGRES_DB=db", "", uint16(0x0100))
	f.Add("x,y", "POSTGRES_PASSWORD=shared-Pw-7\nPOSTGRES_DB=db", "", uint16(0x6100))
	f.Add("svc", "WEBPASSWORD=p1hole-Pw\nSECRET_KEY='quoted # not comment'\nEMPTY_PASSWORD=", "", uint16(0x5fff))
	f.Add("db", "POSTGRES_PASSWORD=a: b\nPOSTGRES_USER=$$literal-dollar-Pw", "", uint16(0x0aaa))
	f.Add("db,db2", "MYSQL_ROOT_PASSWORD=${PW:-default-Pw-3}\nMYSQL_PASSWORD=${PW}", "PW=from-env-Pw-4\n", uint16(0x6001))
	f.Fuzz(func(t *testing.T, names, entries, dotenv string, shape uint16) {
		if len(names)+len(entries)+len(dotenv) > 2000 {
			return
		}
		dir := t.TempDir()
		fuzzProject(dir, names, entries, dotenv, shape)
		ctx := context.Background()
		lo := compose.LoadOptions{WorkingDir: dir, Environ: []string{}}
		p, err := compose.Load(ctx, lo)
		if err != nil {
			return // not a project compose accepts: nothing to migrate
		}
		r, err := compose.Detect(p, compose.DetectOptions{})
		if err != nil {
			return
		}
		for _, opts := range []Options{{}, {To: ToExternal}, {To: ToEnvironment}} {
			plan, err := Make(ctx, p, r, opts)
			if err != nil {
				t.Fatalf("Make: %v", err)
			}
			overlay := map[string][]byte{}
			for _, f := range plan.Files {
				if f.Kind == "compose" || f.Kind == "env" {
					overlay[f.Path] = f.New
				}
			}
			np, err := compose.Reload(ctx, p, overlay)
			if err != nil {
				t.Fatalf("the plan does not load: %v", err)
			}
			checkKept(t, p, np, plan)
		}
	})
}

// checkKept compares every service's environment before and after: a
// migrated variable is replaced by its file variable, everything else is
// as it was, and nothing else appears.
func checkKept(t *testing.T, p, np *compose.Project, plan *Plan) {
	t.Helper()
	migrated := map[string]Item{}
	for _, it := range plan.Items {
		if it.Action == Migrated {
			migrated[it.Service+"\x00"+it.Variable] = it
		}
	}
	for name, s := range p.Compose.Services {
		ns, ok := np.Compose.Services[name]
		if !ok {
			t.Fatalf("service %q is gone", name)
		}
		added := map[string]bool{}
		for k, v := range s.Environment {
			it, isMigrated := migrated[name+"\x00"+k]
			nv, still := ns.Environment[k]
			if isMigrated {
				fv, ok := ns.Environment[it.FileVariable]
				if still || !ok || fv == nil || !strings.HasSuffix(*fv, it.Secret) {
					t.Fatalf("%s.%s: not migrated to %s", name, k, it.FileVariable)
				}
				added[it.FileVariable] = true
				continue
			}
			if !still || (v == nil) != (nv == nil) || (v != nil && *v != *nv) {
				t.Fatalf("%s.%s: lost or changed though not migrated", name, k)
			}
		}
		for k := range ns.Environment {
			if _, ok := s.Environment[k]; !ok && !added[k] {
				t.Fatalf("%s.%s: appeared", name, k)
			}
		}
		for _, it := range migrated {
			if it.Service != name {
				continue
			}
			listed := false
			for _, ref := range ns.Secrets {
				listed = listed || ref.Source == it.Secret
			}
			if !listed {
				t.Fatalf("%s does not list secret %s", name, it.Secret)
			}
		}
	}
}
