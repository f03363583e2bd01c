//go:build corpus

package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/corpus"
	"github.com/docker-vault/docker-vault/internal/imageinfo"
)

// shellImages is a reader for which every image has /bin/sh, an
// entrypoint and a cmd, and reads nothing from files: every variable it
// cannot read is moved through the entrypoint wrapper.
var shellImages = imageinfo.ReaderFunc(func(_ context.Context, ref string, _ imageinfo.ReadOptions) (*imageinfo.Image, error) {
	return &imageinfo.Image{Ref: ref, ID: "sha256:" + strings.Repeat("0", 64), Shell: true,
		Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"run"}}, nil
})

// wrapException says why a yes row may stay reported with images that all
// have /bin/sh: a copy of the value inside a command or a healthcheck
// string, or a Dockerfile build argument, which no wrapper reaches.
func wrapException(r corpus.Row) bool {
	return strings.HasSuffix(r.Service, " (healthcheck)") || r.Service == "<Dockerfile>" ||
		strings.Contains(r.Source, "command") || strings.Contains(r.Source, "healthcheck")
}

// TestCorpusWrapper migrates every corpus project, every profile active,
// with images that all have /bin/sh and read nothing from files: every
// finding of a yes row is migrated (but the exceptions above), every
// rewrite loads, no migrated value is left in a compose or env file, and a
// second run changes nothing.
func TestCorpusWrapper(t *testing.T) {
	ctx := context.Background()
	src := corpus.Dir(t)
	rows := corpus.Expected(t, src)
	entries, err := os.ReadDir(src)
	assert.NilError(t, err)
	items := map[string][]Item{} // project id -> items of every load
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, l := range corpus.Loads(e.Name()) {
			if l.Err != "" {
				continue
			}
			name := e.Name() + " " + strings.Join(l.Files, ",")
			dir := t.TempDir()
			copyTree(t, filepath.Join(src, e.Name()), dir)
			lo := compose.LoadOptions{Files: l.Files, WorkingDir: dir, NoConsistency: l.NoConsistency, Environ: []string{}, Profiles: []string{"*"}}
			p, err := compose.Load(ctx, lo)
			if !assert.Check(t, err, name) {
				continue
			}
			r, err := compose.Detect(p, compose.DetectOptions{Images: ReadImages(ctx, shellImages, p.Compose)})
			assert.NilError(t, err, name)
			plan, err := Make(ctx, p, r, Options{Images: shellImages})
			if !assert.Check(t, err, name) {
				continue
			}
			assert.NilError(t, Write(plan.Files, WriteOptions{}), name)
			items[e.Name()[:2]] = append(items[e.Name()[:2]], plan.Items...)

			// The rewrite loads.
			p2, err := compose.Load(ctx, lo)
			if !assert.Check(t, err, name) {
				continue
			}
			// No migrated value is left in a compose or env file, unless
			// the same text stays for a reason: a finding that is not
			// migrated (a copy in a command, a non-secret of the same text).
			kept := map[string]bool{}
			for i, it := range plan.Items {
				if it.Action != Migrated {
					kept[string(r.Findings[i].Value)] = true
				}
			}
			tree := readTree(t, dir)
			for i, it := range plan.Items {
				v := string(r.Findings[i].Value)
				if it.Action != Migrated || len(v) < 4 || kept[v] {
					continue
				}
				for rel, b := range tree {
					if strings.HasPrefix(rel, "secrets/") || strings.HasPrefix(rel, "Dockerfile") || strings.Contains(rel, "/Dockerfile") {
						continue
					}
					assert.Check(t, !holdsValue(string(b), v), "%s: %s still holds the value of %s.%s", name, rel, it.Service, it.Variable)
				}
				// The wrapped variable is gone from the environment the
				// service gets, and its wrapper exports it.
				if it.Via == string(compose.ViaEntrypoint) {
					svc := p2.Compose.Services[it.Service]
					_, still := svc.Environment[it.Variable]
					assert.Check(t, !still, "%s: %s.%s is still set", name, it.Service, it.Variable)
					w := annotation(svc)
					assert.Check(t, w != nil && w.Variables[it.Variable] == it.Secret, "%s: %s's wrapper does not export %s", name, it.Service, it.Variable)
				}
			}

			// A second run changes nothing.
			p3, err := compose.Load(ctx, lo)
			assert.NilError(t, err, name)
			r3, err := compose.Detect(p3, compose.DetectOptions{Images: ReadImages(ctx, shellImages, p3.Compose)})
			assert.NilError(t, err, name)
			again, err := Make(ctx, p3, r3, Options{Images: shellImages})
			assert.NilError(t, err, name)
			assert.Check(t, !again.Changed(), "%s: the second run would change %d files", name, len(again.Files))
		}
	}

	yes, migrated, excepted := 0, 0, 0
	for _, r := range rows {
		if r.Secret != "yes" {
			continue
		}
		yes++
		if wrapException(r) {
			excepted++
			continue
		}
		var why []string
		ok := false
		for _, it := range items[r.ID] {
			if !itemMatches(r, it) {
				continue
			}
			if it.Action == Migrated {
				ok = true
			} else {
				why = append(why, string(it.Action)+": "+it.Reason)
			}
		}
		if ok {
			migrated++
			continue
		}
		t.Errorf("not migrated: %s %v", r, why)
	}
	t.Logf("wrapper corpus: yes rows %d, migrated %d, exceptions (command/healthcheck/Dockerfile) %d", yes, migrated, excepted)
}

// composeAttrs are service attributes whose values are names, not
// environment values (a password "grafana" and container_name: grafana).
var composeAttrs = map[string]bool{"container_name": true, "hostname": true, "image": true, "user": true, "domainname": true, "working_dir": true, "restart": true}

// holdsValue reports whether a compose or env file still holds v: anywhere
// when v is long or multi-line; as the whole value of a `KEY: v`, `KEY=v`
// or `- KEY=v` line (quoted or not) when it is short, since short corpus
// values ("example", "secret") are words of comments and host names too.
func holdsValue(text, v string) bool {
	if len(v) >= 12 || strings.Contains(v, "\n") {
		return strings.Contains(text, v)
	}
	for _, line := range strings.Split(text, "\n") {
		if !strings.Contains(line, v) {
			continue
		}
		for _, sep := range []string{":", "="} {
			if key, rest, ok := strings.Cut(line, sep); ok && !composeAttrs[strings.TrimSpace(key)] {
				rest = strings.TrimSpace(rest)
				if c := strings.Index(rest, " #"); c >= 0 {
					rest = strings.TrimSpace(rest[:c])
				}
				if strings.Trim(rest, `"'`) == v {
					return true
				}
			}
		}
	}
	return false
}
