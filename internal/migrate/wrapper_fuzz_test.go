package migrate

import (
	"context"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// fuzzWrapImages: every fuzz image is in the engine; postgres reads
// POSTGRES_PASSWORD_FILE, pihole has no /bin/sh, the others read nothing
// from files, so their secrets are wrapped.
var fuzzWrapImages = func() map[string]*imageinfo.Image {
	out := map[string]*imageinfo.Image{}
	for i, ref := range fuzzImages {
		out[ref] = &imageinfo.Image{ID: "sha256:" + strings.Repeat(string(rune('a'+i)), 64), Shell: true,
			Entrypoint: []string{"/entry.sh"}, Cmd: []string{"run", "$x"}}
	}
	out["postgres:16"].Files = imageinfo.Conventions{Vars: map[string]string{"POSTGRES_PASSWORD": "POSTGRES_PASSWORD_FILE"}}
	out["pihole/pihole"].Shell = false
	return out
}()

// FuzzMigrateWrapper is FuzzMigrate with the images read: Make never
// fails, the plan loads, a wrapped variable is gone and exported by its
// service's wrapper from its secret, nothing else of the environment
// changes but the file variables of migrated entries, and a second plan on
// the result changes nothing.
func FuzzMigrateWrapper(f *testing.F) {
	f.Add("db,web", "POSTGRES_PASSWORD=S3cret-pw-1\nPOSTGRES_USER=app\nAPI_TOKEN=S3cret-pw-1", "", uint16(0x0000))
	f.Add("x,y", "DB_PASSWORD=shared-Pw-7\nPOSTGRES_DB=db", "", uint16(0x0100))
	f.Add("x,y", "POSTGRES_PASSWORD=shared-Pw-7\nPOSTGRES_DB=db", "", uint16(0x0100))
	f.Add("a,b,c", "APP_SECRET=${S}\nDB_URL=postgres://u:pw-Zz9@h/db\nWEBPASSWORD=p1hole-Pw", "S=dotenv-Secret-8\n", uint16(0x4105))
	f.Add("svc", "SECRET_KEY=\"a \\\"q\\\" $$ \\\\ b\"\nTOKEN=tok-Abc-123-xyz", "", uint16(0x4fff))
	f.Fuzz(func(t *testing.T, names, entries, dotenv string, shape uint16) {
		if len(names)+len(entries)+len(dotenv) > 2000 {
			return
		}
		dir := t.TempDir()
		fuzzProject(dir, names, entries, dotenv, shape)
		ctx := context.Background()
		reader := fakeReader(fuzzWrapImages)
		lo := compose.LoadOptions{WorkingDir: dir, Environ: []string{}}
		p, err := compose.Load(ctx, lo)
		if err != nil {
			return
		}
		r, err := compose.Detect(p, compose.DetectOptions{Images: ReadImages(ctx, reader, p.Compose)})
		if err != nil {
			return
		}
		plan, err := Make(ctx, p, r, Options{Images: reader})
		if err != nil {
			t.Fatalf("Make: %v", err)
		}
		np, err := compose.Reload(ctx, p, plan.overlay())
		if err != nil {
			t.Fatalf("the plan does not load: %v", err)
		}
		checkWrapKept(t, p, np, plan)

		if err := Write(plan.Files, WriteOptions{}); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p2, err := compose.Load(ctx, lo)
		if err != nil {
			t.Fatalf("the written project does not load: %v", err)
		}
		r2, err := compose.Detect(p2, compose.DetectOptions{Images: ReadImages(ctx, reader, p2.Compose)})
		if err != nil {
			t.Fatalf("Detect again: %v", err)
		}
		again, err := Make(ctx, p2, r2, Options{Images: reader})
		if err != nil {
			t.Fatalf("Make again: %v", err)
		}
		if again.Changed() {
			t.Fatalf("the second plan changes %d files", len(again.Files))
		}
	})
}

func checkWrapKept(t *testing.T, p, np *compose.Project, plan *Plan) {
	t.Helper()
	migrated := map[string]Item{}
	fileVars := map[string]bool{}
	for _, it := range plan.Items {
		if it.Action == Migrated {
			migrated[it.Service+"\x00"+it.Variable] = it
			if it.FileVariable != "" {
				fileVars[it.FileVariable] = true
			}
		}
	}
	for name, s := range p.Compose.Services {
		ns, ok := np.Compose.Services[name]
		if !ok {
			t.Fatalf("service %q is gone", name)
		}
		w := annotation(ns)
		for k, v := range s.Environment {
			it, isMigrated := migrated[name+"\x00"+k]
			nv, still := ns.Environment[k]
			switch {
			case isMigrated && it.Via == string(compose.ViaEntrypoint):
				if still {
					t.Fatalf("%s.%s: still set", name, k)
				}
				if w == nil || w.Variables[k] != it.Secret || len(ns.Entrypoint) < 4 || ns.Entrypoint[2] != WrapperScript(w.Variables) {
					t.Fatalf("%s.%s: not exported by the wrapper", name, k)
				}
			case isMigrated:
				if fv := ns.Environment[it.FileVariable]; still || fv == nil || !strings.HasSuffix(*fv, it.Secret) {
					t.Fatalf("%s.%s: not migrated to %s", name, k, it.FileVariable)
				}
			case !still || (v == nil) != (nv == nil) || (v != nil && *v != *nv):
				t.Fatalf("%s.%s: lost or changed though not migrated", name, k)
			}
		}
		for k := range ns.Environment {
			if _, ok := s.Environment[k]; !ok && !fileVars[k] {
				t.Fatalf("%s.%s: appeared", name, k)
			}
		}
		if w == nil {
			if len(ns.Entrypoint) != len(s.Entrypoint) {
				t.Fatalf("%s: entrypoint changed without a wrapper", name)
			}
			continue
		}
		for v, secret := range w.Variables {
			listed := false
			for _, ref := range ns.Secrets {
				listed = listed || ref.Source == secret
			}
			if !listed {
				t.Fatalf("%s does not list secret %s its wrapper reads for %s", name, secret, v)
			}
		}
	}
}
