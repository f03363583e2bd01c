// Command kv-emulator runs the Azure Key Vault emulator (keyvault/kvtest) as
// a process, for scripts and end-to-end tests that run the real plugin.
//
//	go run ./scripts/kv-emulator --ca-out /tmp/kv-ca.pem --env-out /tmp/kv.env
//
// It prints the vault URL and `export K=V` lines for SSL_CERT_FILE,
// HTTPS_PROXY, IDENTITY_ENDPOINT, IDENTITY_HEADER and DOCKER_VAULT_URL, then
// serves until SIGINT or SIGTERM. It never prints a secret value.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

type options struct {
	listen, admin, name      string
	caOut, envOut, seedFile  string
	latency, retryAfter      time.Duration
	softDeleteDelay          time.Duration
	throttleRate, errorRate  float64
	pageSize                 int
	randSeed                 int64
	emptyPages, endlessPages bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kv-emulator:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	opts, err := o.emulatorOptions()
	if err != nil {
		return err
	}
	srv, err := kvtest.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	caFile, cleanup, err := writeCA(srv, o.caOut)
	if err != nil {
		return err
	}
	defer cleanup()

	exports := exportLines(srv.Env(caFile))
	if o.envOut != "" {
		if err := writePrivate(o.envOut, exports); err != nil {
			return err
		}
	}
	// Comment lines keep the whole output valid shell. The seed lets a run
	// be repeated with --rand-seed.
	fmt.Fprintf(stdout, "# vault: %s\n# admin: %s\n# rand seed: %d\n%s", srv.VaultURL(), srv.AdminURL(), srv.RandSeed(), exports)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return nil
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("kv-emulator", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:0", "loopback address of the proxy, token and admin listener (port 0 picks one)")
	fs.StringVar(&o.admin, "admin", "", "extra loopback address serving only the admin endpoint")
	fs.StringVar(&o.name, "name", "emulator", "vault name: the vault is https://NAME.vault.azure.net")
	fs.StringVar(&o.caOut, "ca-out", "", "file to write the CA certificate to (default: a new temporary directory)")
	fs.StringVar(&o.envOut, "env-out", "", "file to write the export lines to (mode 0600)")
	fs.StringVar(&o.seedFile, "seed", "", "JSON file with initial secrets: {\"name\": \"value\", ...}")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every data-plane request")
	fs.Float64Var(&o.throttleRate, "throttle-rate", 0, "probability (0..1) of answering 429 Throttled")
	fs.DurationVar(&o.retryAfter, "retry-after", 0, "Retry-After sent with 429s (0: none)")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "probability (0..1) of answering 500/503")
	fs.IntVar(&o.pageSize, "page-size", 0, "default page size of lists (1..25, default 25)")
	fs.Int64Var(&o.randSeed, "rand-seed", 0, "seed of fault decisions and generated versions, to repeat a run (default: a random seed, printed at start)")
	fs.DurationVar(&o.softDeleteDelay, "soft-delete-delay", 0, "how long a deleted secret stays invisible under /deletedsecrets")
	fs.BoolVar(&o.emptyPages, "empty-pages", false, "serve an empty page with a nextLink before every page")
	fs.BoolVar(&o.endlessPages, "endless-pages", false, "give every page a nextLink")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return o, nil
}

// emulatorOptions checks the flags and reads the seed file.
func (o options) emulatorOptions() (kvtest.Options, error) {
	opts := kvtest.Options{
		VaultName:       o.name,
		Latency:         o.latency,
		ThrottleRate:    o.throttleRate,
		RetryAfter:      o.retryAfter,
		ErrorRate:       o.errorRate,
		EmptyPages:      o.emptyPages,
		EndlessPages:    o.endlessPages,
		SoftDeleteDelay: o.softDeleteDelay,
		PageSize:        o.pageSize,
		RandSeed:        o.randSeed,
		ProxyAddr:       o.listen,
		AdminAddr:       o.admin,
	}
	// Checked here too, so the refusal names the flag.
	if err := kvtest.CheckLoopback(o.listen); err != nil {
		return opts, fmt.Errorf("--listen: %w", err)
	}
	if o.admin != "" {
		if err := kvtest.CheckLoopback(o.admin); err != nil {
			return opts, fmt.Errorf("--admin: %w", err)
		}
	}
	if o.seedFile != "" {
		seed, err := readSeed(o.seedFile)
		if err != nil {
			return opts, err
		}
		opts.Seed = seed
	}
	return opts, nil
}

// writeCA writes the emulator's CA certificate to caOut or, when it is
// empty, into a new temporary directory that cleanup removes, and returns
// the file's absolute path (a relative SSL_CERT_FILE would break in a child
// started elsewhere).
func writeCA(srv *kvtest.Server, caOut string) (caFile string, cleanup func(), err error) {
	cleanup = func() {}
	caFile = caOut
	if caFile == "" {
		dir, err := os.MkdirTemp("", "kv-emulator-")
		if err != nil {
			return "", cleanup, fmt.Errorf("failed to create a directory for the CA: %w", err)
		}
		cleanup = func() { os.RemoveAll(dir) }
		caFile = filepath.Join(dir, "ca.pem")
	}
	if caFile, err = filepath.Abs(caFile); err == nil {
		err = srv.WriteCA(caFile)
	}
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	return caFile, cleanup, nil
}

// readSeed reads the initial secrets. Errors name the file, never a value.
func readSeed(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read seed file: %w", err)
	}
	var seed map[string]string
	if err := json.Unmarshal(data, &seed); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("seed file %s is not valid JSON (offset %d)", path, syntax.Offset)
		}
		return nil, fmt.Errorf("seed file %s must be a JSON object of name to string value", path)
	}
	return seed, nil
}

func exportLines(env []string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	return b.String()
}

// shellQuote single-quotes v unless it is plainly safe, so the lines can be
// sourced whatever the paths contain.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// writePrivate replaces path atomically with a 0600 file: it holds
// IDENTITY_HEADER, which lets anyone on the machine get tokens.
func writePrivate(path, content string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".kv-emulator-env-*")
	if err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
