package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
	"gotest.tools/v3/icmd"
)

// benchEmulator runs an emulator in the benchmark's process (startEmulator
// takes a *testing.T) and returns it with the environment the plugin needs.
func benchEmulator(b *testing.B, seed map[string]string) (*kvtest.Server, []string) {
	b.Helper()
	s := kvtest.NewServer(b, kvtest.Options{Seed: seed})
	ca := filepath.Join(b.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		b.Fatal(err)
	}
	return s, s.Env(ca)
}

func benchImage(b *testing.B, name string) string {
	ref := fmt.Sprintf("docker-vault-e2e/%s:%d", name, os.Getpid())
	b.Cleanup(func() {
		_ = exec.Command("docker", "--config", env.configDir, "image", "rm", "-f", ref).Run()
	})
	return ref
}

// timed runs a docker command and returns how long it took.
func timed(b *testing.B, cmd icmd.Cmd) time.Duration {
	b.Helper()
	start := time.Now()
	res := icmd.RunCmd(cmd)
	d := time.Since(start)
	if res.ExitCode != 0 {
		b.Fatalf("%s: exit %d\n%s", strings.Join(cmd.Command, " "), res.ExitCode, res.Combined())
	}
	return d
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// kvRoundTrips times what a fresh plugin process sends Key Vault for one
// secret, on a fresh connection as the plugin has: the unauthenticated
// request the SDK answers the challenge with, the managed identity token,
// and the authenticated GET. The value read is discarded unseen.
func kvRoundTrips(b *testing.B, s *kvtest.Server, kvEnv []string, name string) time.Duration {
	b.Helper()
	envOf := map[string]string{}
	for _, kv := range kvEnv {
		k, v, _ := strings.Cut(kv, "=")
		envOf[k] = v
	}
	pem, err := os.ReadFile(envOf["SSL_CERT_FILE"])
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	proxy, err := url.Parse(envOf["HTTPS_PROXY"])
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			if r.URL.Scheme == "https" {
				return proxy, nil
			}
			return nil, nil
		},
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	secretURL := s.VaultURL() + "/secrets/" + name + "/?api-version=7.6"
	do := func(req *http.Request, want int) []byte {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			b.Fatalf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
		}
		return body
	}
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, secretURL, nil)
	do(req, http.StatusUnauthorized)
	req, _ = http.NewRequest(http.MethodGet, envOf["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource="+url.QueryEscape("https://vault.azure.net"), nil)
	req.Header.Set("X-IDENTITY-HEADER", envOf["IDENTITY_HEADER"])
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(do(req, http.StatusOK), &tok); err != nil {
		b.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, secretURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	clear(do(req, http.StatusOK))
	return time.Since(start)
}

// BenchmarkBuildOverhead measures what `docker vault build` adds to the same
// `docker buildx build` given the secret by hand (--secret id=token,env=TOKEN),
// both through the real docker CLI on a cached build, leak check off. Each op
// is five pairs, run in alternating order; the metrics are medians:
// overhead-ms (vault minus direct, per pair), x-direct (vault / direct),
// kv-ms (the Key Vault round trips one run needs, timed on their own) and
// budget-ms (the target: 300 ms plus those round trips). It fails when the
// median overhead is over budget.
func BenchmarkBuildOverhead(b *testing.B) {
	const pairs = 5
	value := uniqueValue(b, "bench-build-tok-")
	s, kvEnv := benchEmulator(b, map[string]string{"token": value})
	dir := b.TempDir()
	df := "FROM " + env.baseImage + "\nARG DOCKER_VAULT_VERSIONS\nRUN --mount=type=secret,id=token,required=true test -s /run/secrets/token\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o600); err != nil {
		b.Fatal(err)
	}
	vaultImg, directImg := benchImage(b, "bench-vault"), benchImage(b, "bench-direct")
	vault := func() icmd.Cmd {
		return vaultDockerCmd(kvEnv, dir, "vault", "build", "--no-leak-check", "--load", "-t", vaultImg, "--progress", "quiet", ".")
	}
	// Same environment as the plugin gets, plus the value by hand.
	direct := func() icmd.Cmd {
		return vaultDockerCmd(append(kvEnv, "TOKEN="+value), dir, "buildx", "build", "--secret", "id=token,env=TOKEN", "--load", "-t", directImg, "--progress", "quiet", ".")
	}
	// Fill the cache for both (the versions arg gives them different keys).
	timed(b, vault())
	timed(b, direct())
	s.ResetCounts()

	var overheads, vaultTimes, directTimes, kvTimes []time.Duration
	runs := 0
	for b.Loop() {
		for i := range pairs {
			var v, d time.Duration
			if i%2 == 0 {
				v, d = timed(b, vault()), timed(b, direct())
			} else {
				d, v = timed(b, direct()), timed(b, vault())
			}
			runs++
			overheads = append(overheads, v-d)
			vaultTimes = append(vaultTimes, v)
			directTimes = append(directTimes, d)
		}
	}
	requests := 0
	for route, n := range s.Counts() {
		if route != kvtest.RouteConnect {
			requests += n
		}
	}
	for range 5 {
		kvTimes = append(kvTimes, kvRoundTrips(b, s, kvEnv, "token"))
	}
	overhead, kv := median(overheads), median(kvTimes)
	budget := 300*time.Millisecond + kv
	b.ReportMetric(ms(overhead), "overhead-ms")
	b.ReportMetric(float64(median(vaultTimes))/float64(median(directTimes)), "x-direct")
	b.ReportMetric(ms(median(directTimes)), "direct-ms")
	b.ReportMetric(ms(median(vaultTimes)), "vault-ms")
	b.ReportMetric(ms(kv), "kv-ms")
	b.ReportMetric(ms(budget), "budget-ms")
	b.ReportMetric(float64(requests)/float64(runs), "kv-requests/build")
	if overhead > budget {
		b.Errorf("docker vault build adds %s to a buildx build, over the %s budget (300ms + %s of Key Vault round trips)", overhead.Round(time.Millisecond), budget.Round(time.Millisecond), kv.Round(time.Millisecond))
	}
}

var leakCheckLine = regexp.MustCompile(`(?m)^leak check: no value of 1 secret \([^)]*\) found in image \S+: .*; ([0-9.]+) MB in ([0-9.]+)(ms|s)$`)

// BenchmarkBuildLeakCheck measures the leak check on an image of about
// 100 MB of random data (the worst case: no early match, nothing
// compressible): ms-per-100MB as the plugin times its own scan, and
// wall-ms-per-100MB as the difference between a cached `docker vault build
// --load` with and without the check.
func BenchmarkBuildLeakCheck(b *testing.B) {
	value := uniqueValue(b, "bench-leak-tok-")
	_, kvEnv := benchEmulator(b, map[string]string{"token": value})
	dir := b.TempDir()
	// The emulator's versions are the same from run to run, so the 100 MB
	// step is built once per machine and cached after that.
	df := "FROM " + env.baseImage + "\nARG DOCKER_VAULT_VERSIONS\n" +
		"RUN --mount=type=secret,id=token test -s /run/secrets/token && dd if=/dev/urandom of=/blob bs=1M count=100 2>/dev/null\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o600); err != nil {
		b.Fatal(err)
	}
	img := benchImage(b, "bench-leak")
	build := func(extra ...string) icmd.Cmd {
		args := append([]string{"vault", "build", "--load", "-t", img, "--progress", "quiet"}, extra...)
		return vaultDockerCmd(kvEnv, dir, append(args, ".")...)
	}
	timed(b, build("--no-leak-check"))

	var selfTimes, wallTimes []float64 // ms per 100 MB
	mb := 0.0
	for b.Loop() {
		start := time.Now()
		res := icmd.RunCmd(build())
		with := time.Since(start)
		if res.ExitCode != 0 {
			b.Fatalf("leak check run: exit %d\n%s", res.ExitCode, res.Combined())
		}
		without := timed(b, build("--no-leak-check"))
		m := leakCheckLine.FindStringSubmatch(res.Stderr())
		if m == nil {
			b.Fatalf("no leak check line in:\n%s", res.Stderr())
		}
		mb, _ = strconv.ParseFloat(m[1], 64)
		t, _ := strconv.ParseFloat(m[2], 64)
		if m[3] == "s" {
			t *= 1000
		}
		selfTimes = append(selfTimes, t*100/mb)
		wallTimes = append(wallTimes, ms(with-without)*100/mb)
	}
	slices.Sort(selfTimes)
	slices.Sort(wallTimes)
	b.ReportMetric(selfTimes[len(selfTimes)/2], "ms-per-100MB")
	b.ReportMetric(wallTimes[len(wallTimes)/2], "wall-ms-per-100MB")
	b.ReportMetric(mb, "image-MB")
}
