package scan

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/docker-vault/docker-vault/internal/redact"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func scanPaths(t *testing.T, root string, opts TreeOptions, paths ...string) *Result {
	t.Helper()
	opts.Root = root
	for i, p := range paths {
		paths[i] = filepath.Join(root, filepath.FromSlash(p))
	}
	res, err := ScanPaths(context.Background(), paths, opts)
	assert.NilError(t, err)
	return res
}

// places lists findings as rule file:line variable, sorted.
func places(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		s := f.Rule + " " + f.Location() + " " + f.Variable
		if f.Secret != "" && f.Rule == RuleVaultValue {
			s += " " + f.Secret + "/" + f.Encoding
		}
		if f.Suppressed != "" {
			s += " (suppressed)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func fileNames(res *Result) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range res.Findings {
		if !seen[f.File] {
			seen[f.File] = true
			out = append(out, f.File)
		}
	}
	sort.Strings(out)
	return out
}

// TestScanPathsKinds walks a tree: compose files as projects, env files
// and Dockerfiles on their own, a .env read both ways found once (with the
// project's services), a compose file that does not load named as an
// error, ordinary files not read without values.
func TestScanPathsKinds(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"app/compose.yaml":            "services:\n  web:\n    image: nginx\n    environment:\n      WEB_PASSWORD: ${WEB_PASSWORD}\n",
		"app/.env":                    "WEB_PASSWORD=Web-Dot-Env-Passw0rd\nOTHER_TOKEN=Other-T0ken-Value-1\n",
		"app/docker-compose.prod.yml": "services:\n  web:\n    image: nginx\n    environment:\n      PROD_API_KEY: Pr0d-Api-Key-Literal\n",
		"deploy/.env.production":      "STRIPE_SECRET=Str1pe-Secret-Production\nLOG_LEVEL=debug\n",
		"deploy/worker.env":           "WORKER_PASSWORD=W0rker-Passw0rd-Env\n",
		"deploy/.env.sample":          "SAMPLE_PASSWORD=\n",
		"images/Dockerfile.prod":      "FROM alpine\nARG GITHUB_TOKEN=Gh-Arg-T0ken-Default\n",
		"images/api.Dockerfile":       "FROM alpine\nENV DB_PASSWORD=Api-Df-Passw0rd\n",
		"images/Containerfile":        "FROM alpine\nENV SIGNING_SECRET=C0ntainerfile-Secret\n",
		"broken/compose.yaml":         "services:\n  x:\n    image: busybox\n    environment:\n      X_PASSWORD: [Br0ken-Yaml-Passw0rd\n",
		"src/main.go":                 "package main // PASSWORD=Src-Not-Read-Passw0rd\n",
		"src/settings.yaml":           "db_password: Yaml-Not-Compose-Passw0rd\n",
	})
	values := []string{"Web-Dot-Env-Passw0rd", "Other-T0ken-Value-1", "Pr0d-Api-Key-Literal", "Str1pe-Secret-Production",
		"W0rker-Passw0rd-Env", "Gh-Arg-T0ken-Default", "Api-Df-Passw0rd", "C0ntainerfile-Secret", "Br0ken-Yaml-Passw0rd",
		"Src-Not-Read-Passw0rd", "Yaml-Not-Compose-Passw0rd"}
	res := scanPaths(t, root, TreeOptions{}, ".")
	assertNoValues(t, res, values...)

	assert.Check(t, is.DeepEqual(fileNames(res), []string{
		"app/.env", "app/docker-compose.prod.yml", "deploy/.env.production", "deploy/worker.env",
		"images/Containerfile", "images/Dockerfile.prod", "images/api.Dockerfile",
	}))
	web := byVariable(t, res, RuleEnvFile, "WEB_PASSWORD")
	assert.Check(t, is.Equal(web.Line, 1))
	assert.Check(t, is.DeepEqual(web.Services, []string{"web"}), "the project's finding is kept")
	assert.Check(t, is.Len(only(res, RuleEnvFile, "app/.env"), 2))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvironment, "PROD_API_KEY").File, "app/docker-compose.prod.yml"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvFile, "STRIPE_SECRET").Line, 1))
	assert.Check(t, is.Equal(byVariable(t, res, RuleDockerfile, "GITHUB_TOKEN").Line, 2))
	assert.Check(t, is.Equal(byVariable(t, res, RuleDockerfile, "DB_PASSWORD").File, "images/api.Dockerfile"))
	assert.Check(t, is.Equal(byVariable(t, res, RuleDockerfile, "SIGNING_SECRET").File, "images/Containerfile"))

	assert.Assert(t, is.Len(res.Errors, 1))
	assert.Check(t, is.Equal(res.Errors[0].File, "broken/compose.yaml"))
	assert.Check(t, strings.HasPrefix(res.Errors[0].Err, "broken/compose.yaml:6:1: "), res.Errors[0].Err)

	// Given by name, a YAML file is taken as a compose file.
	res = scanPaths(t, root, TreeOptions{}, "src/settings.yaml")
	assert.Check(t, is.Len(res.Findings, 0))
	assert.Assert(t, is.Len(res.Errors, 1))
	assert.Check(t, is.Equal(res.Errors[0].File, "src/settings.yaml"))
	assertNoValues(t, res, values...)
}

// TestScanPathsGitignore respects .gitignore files (nested, negated),
// .git/info/exclude, never walks .git, and reads everything with
// NoIgnore.
func TestScanPathsGitignore(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		".git/info/exclude":       "excluded.env\n",
		".git/hooks/leak.env":     "GIT_DIR_PASSWORD=In-Git-Dir-Passw0rd\n",
		".gitignore":              "# build output\nignored/\n*.local.env\n",
		"ignored/.env":            "IGNORED_DIR_PASSWORD=Ign-Dir-Passw0rd\n",
		"a.local.env":             "LOCAL_PASSWORD=L0cal-Env-Passw0rd\n",
		"excluded.env":            "EXCLUDED_PASSWORD=Excl-Env-Passw0rd\n",
		"kept.env":                "KEPT_PASSWORD=Kept-Env-Passw0rd\n",
		"sub/.gitignore":          "secret.env\n!keep.local.env\n",
		"sub/secret.env":          "SUB_PASSWORD=Sub-Secret-Passw0rd\n",
		"sub/keep.local.env":      "NEGATED_PASSWORD=Neg4ted-Passw0rd\n",
		"sub/deeper/secret.env":   "DEEP_PASSWORD=Deep-Secret-Passw0rd\n",
		"other/secret.env":        "OTHER_PASSWORD=Other-Dir-Passw0rd\n",
		"other/nested/Dockerfile": "FROM alpine\nENV NESTED_TOKEN=Nested-D0ckerfile-Tok\n",
	})
	values := []string{"In-Git-Dir-Passw0rd", "Ign-Dir-Passw0rd", "L0cal-Env-Passw0rd", "Excl-Env-Passw0rd", "Kept-Env-Passw0rd",
		"Sub-Secret-Passw0rd", "Neg4ted-Passw0rd", "Deep-Secret-Passw0rd", "Other-Dir-Passw0rd", "Nested-D0ckerfile-Tok"}

	res := scanPaths(t, root, TreeOptions{}, ".")
	assertNoValues(t, res, values...)
	assert.Check(t, is.DeepEqual(fileNames(res), []string{"kept.env", "other/nested/Dockerfile", "other/secret.env", "sub/keep.local.env"}))

	// A subfolder given as PATH still obeys the .gitignore files above it.
	res = scanPaths(t, root, TreeOptions{}, "sub")
	assert.Check(t, is.DeepEqual(fileNames(res), []string{"sub/keep.local.env"}))

	res = scanPaths(t, root, TreeOptions{NoIgnore: true}, ".")
	assertNoValues(t, res, values...)
	assert.Check(t, is.DeepEqual(fileNames(res), []string{
		"a.local.env", "excluded.env", "ignored/.env", "kept.env", "other/nested/Dockerfile", "other/secret.env",
		"sub/deeper/secret.env", "sub/keep.local.env", "sub/secret.env",
	}), ".git is never walked")
}

// TestScanPathsSymlinks never follows a link met in the walk, and follows
// one given as a PATH only when it stays inside the root.
func TestScanPathsSymlinks(t *testing.T) {
	outside := writeTree(t, t.TempDir(), map[string]string{
		".env":       "OUTSIDE_PASSWORD=0utside-Passw0rd\n",
		"secret.env": "OUTSIDE_FILE_PASSWORD=0utside-File-Passw0rd\n",
	})
	root := writeTree(t, t.TempDir(), map[string]string{
		"real/.env": "INSIDE_PASSWORD=Ins1de-Passw0rd\n",
	})
	assert.NilError(t, os.Symlink(outside, filepath.Join(root, "out-dir")))
	assert.NilError(t, os.Symlink(filepath.Join(outside, "secret.env"), filepath.Join(root, "out.env")))
	assert.NilError(t, os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "in-dir")))
	values := []string{"0utside-Passw0rd", "0utside-File-Passw0rd", "Ins1de-Passw0rd"}

	res := scanPaths(t, root, TreeOptions{}, ".")
	assertNoValues(t, res, values...)
	assert.Check(t, is.DeepEqual(fileNames(res), []string{"real/.env"}))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "3 symlinks in the tree not followed"))

	res = scanPaths(t, root, TreeOptions{}, "out-dir", "out.env")
	assertNoValues(t, res, values...)
	assert.Check(t, is.Len(res.Findings, 0))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "symlink out-dir not followed: it points out of the tree"))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "symlink out.env not followed: it points out of the tree"))

	res = scanPaths(t, root, TreeOptions{}, "in-dir")
	assert.Check(t, is.DeepEqual(fileNames(res), []string{"real/.env"}))
}

// TestScanPathsBinary skips files with a NUL in their first 8 KiB.
func TestScanPathsBinary(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"bin.env":   "BIN_PASSWORD=B1nary-Passw0rd\n\x00\x01\x02",
		"text.env":  "TEXT_PASSWORD=T3xt-Passw0rd\n",
		"image.png": "\x89PNG\x00\x00 B1nary-Passw0rd",
	})
	vs := NewValues([]Value{{Name: "bin", Value: []byte("B1nary-Passw0rd")}})
	defer vs.Close()
	res := scanPaths(t, root, TreeOptions{Values: vs}, ".")
	assertNoValues(t, res, "B1nary-Passw0rd", "T3xt-Passw0rd")
	assert.Check(t, is.DeepEqual(places(res), []string{"env-file text.env:1:15 TEXT_PASSWORD"}))
	assert.Check(t, is.Contains(res.Notes, "2 binary files skipped"))
}

// TestScanPathsUnreadable names a file that cannot be read and goes on.
// The file is made unreadable by the read hook: chmod 000 does not stop
// root, which the tests may run as.
func TestScanPathsUnreadable(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"locked/.env":      "LOCKED_PASSWORD=L0cked-Passw0rd\n",
		"locked/notes.txt": "L0cked-Passw0rd\n",
		"open/.env":        "OPEN_PASSWORD=0pen-Passw0rd\n",
		"open/notes.txt":   "0pen-Passw0rd\n",
	})
	lockedEnv, lockedNotes := filepath.Join(root, "locked", ".env"), filepath.Join(root, "locked", "notes.txt")
	defer func(orig func(string, []byte) ([]byte, error)) { readFile = orig }(readFile)
	readFile = func(path string, buf []byte) ([]byte, error) {
		if path == lockedEnv || path == lockedNotes {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
		}
		return readWhole(path, buf)
	}
	vs := NewValues([]Value{{Name: "open", Value: []byte("0pen-Passw0rd")}})
	defer vs.Close()
	res := scanPaths(t, root, TreeOptions{Values: vs}, ".")
	assertNoValues(t, res, "L0cked-Passw0rd", "0pen-Passw0rd")
	assert.Check(t, is.DeepEqual(res.Errors, []FileError{
		{File: "locked/.env", Err: "permission denied"},
		{File: "locked/notes.txt", Err: "permission denied"},
	}))
	assert.Check(t, is.DeepEqual(places(res), []string{
		"env-file open/.env:1:15 OPEN_PASSWORD",
		"vault-value open/.env:1:15  open/raw",
		"vault-value open/notes.txt:1:1  open/raw",
	}))
}

// TestScanPathsHugeLine: a .env of one huge line is judged and searched
// in one pass (the test returning is the check; no timing).
func TestScanPathsHugeLine(t *testing.T) {
	var b strings.Builder
	b.WriteString("BIG_TOKEN=")
	for b.Len() < 8<<20 {
		b.WriteString("abcdefghij0123456789")
	}
	b.WriteString("Hidden-At-The-End-Passw0rd\nSMALL_PASSWORD=Sm4ll-Passw0rd\n")
	root := writeTree(t, t.TempDir(), map[string]string{"huge/.env": b.String()})
	vs := NewValues([]Value{{Name: "hidden", Value: []byte("Hidden-At-The-End-Passw0rd")}})
	defer vs.Close()
	res := scanPaths(t, root, TreeOptions{Values: vs}, "huge")
	assertNoValues(t, res, "Hidden-At-The-End-Passw0rd", "Sm4ll-Passw0rd")
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvFile, "BIG_TOKEN").Line, 1))
	assert.Check(t, is.Equal(byVariable(t, res, RuleEnvFile, "SMALL_PASSWORD").Line, 2))
	v := only(res, RuleVaultValue, "")
	assert.Assert(t, is.Len(v, 1))
	_, col := posOf(t, b.String(), "Hidden-At-The-End")
	assert.Check(t, is.Equal(v[0].Line, 1))
	assert.Check(t, is.Equal(v[0].Column, col))
}

// TestScanPathsValues finds a Key Vault value in any text file, raw,
// base64, hex and URL-encoded, at its line and column.
func TestScanPathsValues(t *testing.T) {
	const secret = "Kv-Value/With+Odd=Chars&9"
	const named = "Named-Value-In-Path-4q"
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	hx := hex.EncodeToString([]byte(secret))
	files := map[string]string{
		"notes.txt":            "line one\n  the token is " + secret + "\n",
		"config/app.json":      `{"blob": "` + b64 + `"}` + "\n",
		"scripts/run.sh":       "#!/bin/sh\n\nX=" + hx + "\n",
		"web/links.md":         "see https://example.test/?k=" + url.QueryEscape(secret) + "\n",
		"ignored-by-me.txt":    secret + " # docker-vault:ignore fixture\n",
		"deep/a/b/c/d/e/f.cfg": "x\ny\nz\n" + secret,
		// A file named with a value: its location is masked.
		"keys/" + named + ".txt": "key " + named + "\n",
	}
	root := writeTree(t, t.TempDir(), files)
	vs := NewValues([]Value{{Name: "kv-secret", Value: []byte(secret)}, {Name: "absent", Value: []byte("Absent-From-Tree-9")}, {Name: "in-name", Value: []byte(named)}})
	defer vs.Close()
	res := scanPaths(t, root, TreeOptions{Values: vs}, ".")
	assertNoValues(t, res, secret, named)
	assert.Check(t, is.DeepEqual(places(res), []string{
		"vault-value config/app.json:1:11  kv-secret/base64",
		"vault-value deep/a/b/c/d/e/f.cfg:4:1  kv-secret/raw",
		"vault-value ignored-by-me.txt:1:1  kv-secret/raw (suppressed)",
		"vault-value keys/" + redact.MaskText + ".txt:1:5  in-name/raw",
		"vault-value notes.txt:2:16  kv-secret/raw",
		"vault-value scripts/run.sh:3:3  kv-secret/hex",
		"vault-value web/links.md:1:29  kv-secret/URL-encoded",
	}))
	assert.Check(t, is.Equal(res.Files, len(files)))
	for _, f := range res.Findings {
		assert.Check(t, is.Equal(f.Severity, SeverityError))
		assert.Check(t, is.Contains(f.Message, "Key Vault secret "+f.Secret+" "))
	}
}

func TestKindOf(t *testing.T) {
	for name, want := range map[string]fileKind{
		"compose.yaml": kindCompose, "compose.override.yml": kindCompose, "docker-compose.yml": kindCompose,
		"docker-compose.prod.yaml": kindCompose, "compose.json": kindOther, "settings.yaml": kindOther,
		".env": kindEnv, ".env.local": kindEnv, "prod.env": kindEnv, ".envrc": kindOther, "env": kindOther,
		"Dockerfile": kindDockerfile, "Dockerfile.dev": kindDockerfile, "api.Dockerfile": kindDockerfile,
		"Containerfile": kindDockerfile, "Dockerfile.go": kindDockerfile, "dockerfile.txt": kindOther,
	} {
		assert.Check(t, is.Equal(kindOf(name), want), name)
	}
}

func TestIgnoreComment(t *testing.T) {
	li := newLineIndex([]byte("A=1 # docker-vault:ignore\n# docker-vault:ignore: because\nB=2\nC=3#docker-vault:ignore\nD=4 # docker-vault:ignored\n  #   docker-vault:ignore  spaced  \nE=5\nF=6 # x docker-vault:ignore\n"))
	for line, want := range map[int]string{1: "", 3: "because", 7: "spaced"} {
		why, ok := li.ignoreComment(line)
		assert.Check(t, ok, line)
		assert.Check(t, is.Equal(why, want), line)
	}
	for _, line := range []int{4, 5, 8} {
		_, ok := li.ignoreComment(line)
		assert.Check(t, !ok, line)
	}
}

// TestScanPathsIncluded: a compose file that loads only as part of the
// project including it is no error, but a note.
func TestScanPathsIncluded(t *testing.T) {
	root := writeTree(t, t.TempDir(), map[string]string{
		"compose.yaml":    "include:\n  - path: db/compose.yaml\n    env_file: db.env\n",
		"db.env":          "DB_IMAGE=postgres:16\n",
		"db/compose.yaml": "services:\n  db:\n    image: ${DB_IMAGE:?set DB_IMAGE}\n    environment:\n      POSTGRES_PASSWORD: Incl-uded-Passw0rd\n",
	})
	res := scanPaths(t, root, TreeOptions{}, ".")
	assertNoValues(t, res, "Incl-uded-Passw0rd")
	assert.Check(t, is.Len(res.Errors, 0))
	assert.Check(t, is.DeepEqual(places(res), []string{"environment db/compose.yaml:5:26 POSTGRES_PASSWORD"}))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "db/compose.yaml does not load as a project of its own ("))
	assert.Check(t, is.Contains(strings.Join(res.Notes, "\n"), "it was read as part of compose.yaml"))

	// Alone, it is an error.
	res = scanPaths(t, root, TreeOptions{}, "db")
	assert.Assert(t, is.Len(res.Errors, 1))
	assert.Check(t, is.Equal(res.Errors[0].File, "db/compose.yaml"))
}
