package migrate

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/compose"
)

// manySecretsProject writes a project of n services, each with one literal
// password and one ${VAR} from .env (an image that reads both from files): 2n secrets to migrate, each its own
// value.
func manySecretsProject(tb testing.TB, n int) string {
	tb.Helper()
	var c, env strings.Builder
	c.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&c, "  svc%d:\n    image: mariadb:11\n    environment:\n      MARIADB_PASSWORD: Write-Bench-Pw-%d\n      MARIADB_USER: user%d\n      MARIADB_ROOT_PASSWORD: ${ROOT_%d}\n", i, i, i, i)
		fmt.Fprintf(&env, "ROOT_%d=Write-Bench-Root-%d\n", i, i)
	}
	return writeProject(tb, map[string]string{"compose.yaml": c.String(), ".env": env.String()})
}

// BenchmarkWrite times Write of a 2,000-secret migration: two files
// replaced, 2,000 secret files and a .gitignore created. Between runs the
// project is put back as it was (untimed).
func BenchmarkWrite(b *testing.B) {
	dir := manySecretsProject(b, 1000)
	_, _, plan := makePlanIn(b, dir, compose.LoadOptions{}, Options{})
	assert.Equal(b, len(plan.Secrets), 2000)
	orig := readTree(b, dir)
	reset := func() {
		assert.NilError(b, os.RemoveAll(filepath.Join(dir, "secrets")))
		os.Remove(filepath.Join(dir, ".gitignore"))
		for rel, content := range orig {
			assert.NilError(b, os.WriteFile(filepath.Join(dir, rel), content, 0o644))
		}
	}
	for b.Loop() {
		b.StopTimer()
		reset()
		b.StartTimer()
		assert.NilError(b, Write(plan.Files, WriteOptions{}))
	}
}
