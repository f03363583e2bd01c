package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"

	"github.com/docker-vault/docker-vault/buildx"
	"github.com/docker-vault/docker-vault/mapping"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
)

// runComposeBuild builds a compose project's services with the values of
// their build.secrets whose source is `environment:` read from Key Vault
// and handed to `docker compose build` in its environment only.
func runComposeBuild(ctx context.Context, dockerCLI command.Cli, o buildOptions) error {
	var po projectOptions
	var passthrough, services []string
	args := o.buildxArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case (a == "-f" || a == "--file") && i+1 < len(args):
			po.files = append(po.files, args[i+1])
			i++
		case strings.HasPrefix(a, "--file="):
			po.files = append(po.files, strings.TrimPrefix(a, "--file="))
		case (a == "--project-directory" || a == "--env-file" || a == "--profile") && i+1 < len(args):
			switch a {
			case "--project-directory":
				po.projectDir = args[i+1]
			case "--env-file":
				po.envFiles = append(po.envFiles, args[i+1])
			default:
				po.profiles = append(po.profiles, args[i+1])
			}
			i++
		case strings.HasPrefix(a, "-"):
			passthrough = append(passthrough, a)
		default:
			services = append(services, a)
		}
	}
	p, err := po.load(ctx)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, s := range services {
		if _, err := p.GetService(s); err != nil {
			return fmt.Errorf("no such service: %s", s)
		}
		wanted[s] = true
	}
	type need struct{ env, kv, version, key string }
	needs := map[string]need{}
	for _, svc := range p.Services {
		if svc.Build == nil || (len(wanted) > 0 && !wanted[svc.Name]) {
			continue
		}
		for _, ref := range svc.Build.Secrets {
			sc, ok := p.Secrets[ref.Source]
			if !ok || sc.Environment == "" {
				continue // a file: source needs nothing from us
			}
			kv, version, err := mapping.KeyVaultName(ref.Source, sc)
			if err != nil {
				return err
			}
			needs[ref.Source] = need{env: sc.Environment, kv: kv, version: version, key: ref.Source}
		}
	}
	if len(needs) == 0 {
		return errors.New("no service to build uses a build secret with an `environment:` source: nothing to fill from Key Vault")
	}
	keys := make([]string, 0, len(needs))
	for k := range needs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mounts []buildx.SecretMount
	var mappings []buildx.Mapping
	for _, k := range keys {
		n := needs[k]
		mounts = append(mounts, buildx.SecretMount{ID: k, Required: true})
		mappings = append(mappings, buildx.Mapping{ID: k, KVName: n.kv, Version: n.version})
	}
	projectURL, err := mapping.VaultURL(p)
	if err != nil {
		return err
	}
	store, err := o.vault.open(ctx, projectURL)
	if err != nil {
		return err
	}
	rctx, cancel := o.vault.withTimeout(ctx)
	secrets, _, err := buildx.Resolve(rctx, store, mounts, mappings, nil, o.parallel)
	cancel()
	if err != nil {
		return fmt.Errorf("no build was started: %w", err)
	}
	defer func() {
		for _, s := range secrets {
			clear(s.Value)
		}
	}()
	env := []string{}
	vars := map[string]bool{}
	for _, n := range needs {
		vars[n.env] = true
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !vars[k] {
			env = append(env, kv)
		}
	}
	for _, s := range secrets {
		if strings.IndexByte(string(s.Value), 0) >= 0 {
			return fmt.Errorf("secret %s: the value holds a NUL byte, which cannot travel in an environment variable", s.ID)
		}
		env = append(env, needs[s.ID].env+"="+string(s.Value))
	}
	cmdArgs := append(globalArgs(), "compose")
	for _, f := range p.ComposeFiles {
		cmdArgs = append(cmdArgs, "-f", f)
	}
	if po.projectDir != "" {
		cmdArgs = append(cmdArgs, "--project-directory", po.projectDir)
	}
	for _, e := range po.envFiles {
		cmdArgs = append(cmdArgs, "--env-file", e)
	}
	for _, pr := range po.profiles {
		cmdArgs = append(cmdArgs, "--profile", pr)
	}
	cmdArgs = append(cmdArgs, "build")
	cmdArgs = append(cmdArgs, passthrough...)
	cmdArgs = append(cmdArgs, services...)
	cmd := exec.CommandContext(ctx, dockerBinary(), cmdArgs...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = dockerCLI.In(), dockerCLI.Out(), dockerCLI.Err()
	return exitError("docker compose build", cmd.Run())
}

// exitError turns a child's failure into the plugin's exit status.
func exitError(what string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return cli.StatusError{StatusCode: ee.ExitCode(), Status: what + " failed"}
	}
	return fmt.Errorf("failed to run %s: %w", what, err)
}
