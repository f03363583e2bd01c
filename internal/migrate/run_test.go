package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/keyvault"
)

const runProject = `x-vault:
  url: https://run-test.vault.azure.net
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: Run-Pg-Pw-51
`

func runOptions(dir string) RunOptions {
	return RunOptions{Load: compose.LoadOptions{WorkingDir: dir, Environ: []string{}}}
}

func TestRunDryRunWritesNothing(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": runProject})
	before := readTree(t, dir)
	o := runOptions(dir)
	o.DryRun = true
	res, err := Run(context.Background(), o)
	assert.NilError(t, err)
	assert.Check(t, res.Plan.Changed())
	assert.Check(t, res.Mask != nil)
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
}

func TestRunWritesThenChangesNothing(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": runProject})
	res, err := Run(context.Background(), runOptions(dir))
	assert.NilError(t, err)
	assert.Check(t, is.DeepEqual(res.Plan.Secrets, []string{"postgres_password"}))
	after := readTree(t, dir)
	assert.Check(t, is.Equal(string(after[filepath.Join("secrets", "postgres_password")]), "Run-Pg-Pw-51"))

	res, err = Run(context.Background(), runOptions(dir))
	assert.NilError(t, err)
	assert.Check(t, !res.Plan.Changed())
	assert.Check(t, is.DeepEqual(readTree(t, dir), after))
}

// TestRunPushFirst: the vault is opened, within VaultContext, with the
// project's x-vault url before any file is written; a failure leaves the
// project as it was.
func TestRunPushFirst(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": runProject})
	before := readTree(t, dir)
	type key struct{}
	var gotURL string
	var bounded, canceled bool
	o := runOptions(dir)
	o.Plan.To, o.Push = ToExternal, true
	o.VaultContext = func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithValue(ctx, key{}, true), func() { canceled = true }
	}
	o.OpenVault = func(ctx context.Context, projectURL string) (keyvault.Store, error) {
		gotURL, bounded = projectURL, ctx.Value(key{}) != nil
		return nil, errors.New("vault unreachable")
	}
	_, err := Run(context.Background(), o)
	assert.Check(t, is.ErrorContains(err, "vault unreachable"))
	assert.Check(t, is.Equal(gotURL, "https://run-test.vault.azure.net"))
	assert.Check(t, bounded, "the vault was opened outside VaultContext")
	assert.Check(t, canceled)
	assert.Check(t, is.DeepEqual(readTree(t, dir), before))
}
