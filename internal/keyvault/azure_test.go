package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

func TestAzureGetLatestAndVersion(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	v1 := s.SetSecret("db-password", "first-value-1")
	v2 := s.SetSecret("db-password", "second-value-2")
	st := openEmulator(t, s, RetryOptions{})
	ctx := context.Background()

	latest, err := st.Get(ctx, "db-password", "")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(latest.Value), "second-value-2"))
	assert.Check(t, is.Equal(latest.Name, "db-password"))
	assert.Check(t, is.Equal(latest.Version, v2))
	assert.Check(t, latest.Enabled)
	assert.Check(t, !latest.Updated.IsZero())

	old, err := st.Get(ctx, "db-password", v1)
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(old.Value), "first-value-1"))
	assert.Check(t, is.Equal(old.Version, v1))

	assert.Check(t, is.Equal(st.VaultURL(), "https://emulator.vault.azure.net"))
	// One challenge for the first request, then the token is reused.
	assert.Check(t, is.Equal(s.Count(kvtest.RouteChallenge), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 2))
}

func TestAzureListPaged(t *testing.T) {
	for _, empty := range []bool{false, true} {
		t.Run(fmt.Sprintf("empty-pages=%v", empty), func(t *testing.T) {
			s := kvtest.NewServer(t, kvtest.Options{EmptyPages: empty})
			want := s.Populate("app", 63)
			s.SetEnabled("app-00007", false)
			st := openEmulator(t, s, RetryOptions{})

			var got []string
			err := st.List(context.Background(), func(p SecretProperties) error {
				got = append(got, p.Name)
				assert.Check(t, is.Equal(p.Version, ""), "list items carry base ids")
				assert.Check(t, is.Equal(p.Enabled, p.Name != "app-00007"), p.Name)
				assert.Check(t, !p.Updated.IsZero())
				return nil
			})
			assert.NilError(t, err)
			slices.Sort(got)
			assert.Check(t, is.DeepEqual(got, want))
			pages := 3 // 25 + 25 + 13
			if empty {
				pages *= 2
			}
			assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), pages))
			assert.Check(t, is.Equal(s.Count(kvtest.RouteChallenge), 1))
		})
	}
}

func TestAzureListStopsOnCallbackError(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.Populate("app", 60)
	st := openEmulator(t, s, RetryOptions{})
	stop := errors.New("stop")
	n := 0
	err := st.List(context.Background(), func(SecretProperties) error {
		n++
		return stop
	})
	assert.Check(t, is.ErrorIs(err, stop))
	assert.Check(t, is.Equal(n, 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 1))
}

func TestAzureVersions(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{PageSize: 2})
	var want []string
	for i := range 5 {
		want = append(want, s.SetSecret("api-key", fmt.Sprintf("value-%d", i)))
	}
	st := openEmulator(t, s, RetryOptions{})
	vs, err := st.Versions(context.Background(), "api-key")
	assert.NilError(t, err)
	var got []string
	for _, v := range vs {
		assert.Check(t, is.Equal(v.Name, "api-key"))
		got = append(got, v.Version)
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Check(t, is.DeepEqual(got, want))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListVersions), 3))

	_, err = st.Versions(context.Background(), "nope")
	assert.Check(t, is.ErrorIs(err, ErrNotFound))
}

func TestAzureSet(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	st := openEmulator(t, s, RetryOptions{})
	ctx := context.Background()
	const value = "s3t-value-never-printed"

	props, err := st.Set(ctx, "new-secret", []byte(value), SetOptions{ContentType: "text/plain", Tags: map[string]string{"owner": "docker-vault"}})
	assert.NilError(t, err)
	assert.Check(t, is.Equal(props.Name, "new-secret"))
	assert.Check(t, props.Version != "")
	assert.Check(t, is.Equal(props.ContentType, "text/plain"))
	assert.Check(t, is.DeepEqual(props.Tags, map[string]string{"owner": "docker-vault"}))
	assert.Check(t, props.Enabled)

	got, err := st.Get(ctx, "new-secret", "")
	assert.NilError(t, err)
	assert.Check(t, is.Equal(string(got.Value), value))
	assert.Check(t, is.Equal(got.Version, props.Version))
	// The first request of a store (a PUT) is sent without its body to
	// elicit the challenge, then again with it.
	assert.Check(t, is.Equal(s.Count(kvtest.RouteChallenge), 1))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteSetSecret), 1))

	_, err = st.Set(ctx, "bad_name", []byte(value), SetOptions{})
	assert.Check(t, is.ErrorContains(err, "invalid secret name"))
	assertNoValue(t, []string{value}, err.Error())
}

func TestAzureNotFound(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("present", "present-value")
	st := openEmulator(t, s, RetryOptions{})

	_, err := st.Get(context.Background(), "missing", "")
	assert.Check(t, is.ErrorIs(err, ErrNotFound))
	assert.Check(t, is.Error(err, "failed to get secret missing from https://emulator.vault.azure.net: the secret does not exist"))
	var kvErr *Error
	assert.Assert(t, errors.As(err, &kvErr))
	assert.Check(t, is.Equal(kvErr.StatusCode, 404))
	assert.Check(t, is.Equal(kvErr.Code, "SecretNotFound"))
	assert.Check(t, is.Equal(kvErr.Op, OpGet))

	_, err = st.Get(context.Background(), "present", "0123456789abcdef0123456789abcdef")
	assert.Check(t, is.ErrorIs(err, ErrNotFound))
	assert.Check(t, is.ErrorContains(err, "version 0123456789abcdef0123456789abcdef of the secret does not exist"))
	assertNoValue(t, []string{"present-value"}, err.Error())
}

func TestAzureDisabled(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("old-token", "disabled-value-x")
	s.SetEnabled("old-token", false)
	st := openEmulator(t, s, RetryOptions{})

	_, err := st.Get(context.Background(), "old-token", "")
	assert.Check(t, is.ErrorIs(err, ErrDisabled))
	assert.Check(t, !errors.Is(err, ErrForbidden), "a disabled secret is not a permission problem")
	var kvErr *Error
	assert.Assert(t, errors.As(err, &kvErr))
	assert.Check(t, is.Equal(kvErr.Code, "Forbidden"))
	assert.Check(t, is.Equal(kvErr.InnerCode, "SecretDisabled"))
	assert.Check(t, is.ErrorContains(err, "the secret is disabled: enable it with `az keyvault secret set-attributes --vault-name emulator --name old-token --enabled true`"))
	assertNoValue(t, []string{"disabled-value-x"}, err.Error())
}

func TestAzureForbidden(t *testing.T) {
	for _, code := range []string{"ForbiddenByPolicy", "AccessDenied"} {
		t.Run(code, func(t *testing.T) {
			s := kvtest.NewServer(t, kvtest.Options{ForbiddenCode: code})
			s.SetSecret("locked", "locked-value-1")
			st := openEmulator(t, s, RetryOptions{})
			ctx := context.Background()

			s.SetFaults(kvtest.Faults{Forbidden: []string{"locked"}, ForbiddenCode: code})
			_, err := st.Get(ctx, "locked", "")
			assert.Check(t, is.ErrorIs(err, ErrForbidden))
			var kvErr *Error
			assert.Assert(t, errors.As(err, &kvErr))
			assert.Check(t, is.Equal(kvErr.Permission, "secrets get"))
			assert.Check(t, is.Equal(kvErr.InnerCode, code))
			assert.Check(t, is.ErrorContains(err, "access denied ("+code+"): the identity lacks the secrets get permission; grant it the Key Vault Secrets User role"))

			_, err = st.Set(ctx, "locked", []byte("locked-value-2"), SetOptions{})
			assert.Check(t, is.ErrorIs(err, ErrForbidden))
			assert.Check(t, is.ErrorContains(err, "secrets set permission; grant it the Key Vault Secrets Officer role"))

			s.SetFaults(kvtest.Faults{Forbidden: []string{"*"}, ForbiddenCode: code})
			err = st.List(ctx, func(SecretProperties) error { return nil })
			assert.Check(t, is.ErrorIs(err, ErrForbidden))
			assert.Check(t, is.ErrorContains(err, "failed to list secrets from https://emulator.vault.azure.net: access denied"))
			assert.Check(t, is.ErrorContains(err, "secrets list permission"))
			assert.Check(t, !strings.Contains(err.Error(), "\n"))
			assertNoValue(t, []string{"locked-value-1", "locked-value-2"}, err.Error())
		})
	}
}

// A storm of 429s: the list completes, and the waits follow Retry-After when
// the service sends it and exponential backoff when it does not.
func TestAzureThrottleStorm(t *testing.T) {
	t.Run("without Retry-After", func(t *testing.T) {
		s := kvtest.NewServer(t, kvtest.Options{ThrottleRate: 0.5, RandSeed: 7})
		s.Populate("app", 60)
		st := openEmulator(t, s, RetryOptions{Delay: 2 * time.Millisecond, MaxRetries: 20})
		n := 0
		assert.NilError(t, st.List(context.Background(), func(SecretProperties) error { n++; return nil }))
		assert.Check(t, is.Equal(n, 60))
		assert.Check(t, s.Count(kvtest.RouteFaultThrottle) >= 2, "throttled %d times", s.Count(kvtest.RouteFaultThrottle))
	})
	t.Run("with Retry-After", func(t *testing.T) {
		s := kvtest.NewServer(t, kvtest.Options{RandSeed: 3})
		s.Populate("app", 60)
		st := openEmulator(t, s, RetryOptions{Delay: time.Millisecond, MaxRetries: 20})
		// Throttle only once the token is in hand, so every 429 is a
		// data-plane reply with Retry-After: 1.
		assert.NilError(t, st.List(context.Background(), func(SecretProperties) error { return nil }))
		s.ResetCounts()
		s.SetFaults(kvtest.Faults{ThrottleRate: 0.4, RetryAfter: time.Second})
		start := time.Now()
		n := 0
		assert.NilError(t, st.List(context.Background(), func(SecretProperties) error { n++; return nil }))
		elapsed := time.Since(start)
		throttled := s.Count(kvtest.RouteFaultThrottle)
		assert.Check(t, is.Equal(n, 60))
		assert.Assert(t, throttled >= 1, "the seed should throttle at least once")
		// Each 429 was waited out for the full second it asked for, which
		// a 1ms exponential backoff alone would never add up to.
		assert.Check(t, elapsed >= time.Duration(throttled)*time.Second, "elapsed %s for %d throttles", elapsed, throttled)
	})
}

func TestAzureThrottledGivesUp(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("busy", "busy-value")
	st := openEmulator(t, s, RetryOptions{Delay: time.Millisecond, MaxRetries: 2})
	ctx := context.Background()
	_, err := st.Get(ctx, "busy", "")
	assert.NilError(t, err)

	s.SetFaults(kvtest.Faults{ThrottleRate: 1})
	s.ResetCounts()
	_, err = st.Get(ctx, "busy", "")
	assert.Check(t, is.ErrorIs(err, ErrThrottled))
	assert.Check(t, is.ErrorContains(err, "throttled (429 Throttled) after 3 tries"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret), 3))

	// A Retry-After that ends past the deadline is not slept through: the
	// request fails at once as throttled rather than as a timeout.
	s.SetFaults(kvtest.Faults{ThrottleRate: 1, RetryAfter: 10 * time.Second})
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err = st.Get(ctx, "busy", "")
	assert.Check(t, is.ErrorIs(err, ErrThrottled))
	assert.Check(t, is.ErrorContains(err, "retry budget"))
	assert.Check(t, time.Since(start) < 2*time.Second, "took %s", time.Since(start))
}

func TestAzureServerErrorsRetried(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{RandSeed: 11})
	s.Populate("app", 60)
	st := openEmulator(t, s, RetryOptions{Delay: time.Millisecond, MaxRetries: 20})
	ctx := context.Background()
	assert.NilError(t, st.List(ctx, func(SecretProperties) error { return nil }))

	s.SetFaults(kvtest.Faults{ErrorRate: 0.5})
	n := 0
	assert.NilError(t, st.List(ctx, func(SecretProperties) error { n++; return nil }))
	assert.Check(t, is.Equal(n, 60))
	assert.Check(t, s.Count(kvtest.RouteFaultError) >= 1)

	s.SetFaults(kvtest.Faults{ErrorRate: 1, ErrorStatus: 503})
	st = openEmulator(t, s, RetryOptions{Delay: time.Millisecond, MaxRetries: 4})
	_, err := st.Get(ctx, "app-00001", "")
	assert.Check(t, is.ErrorIs(err, ErrUnavailable))
	assert.Check(t, is.ErrorContains(err, "Key Vault answered 503 ServiceUnavailable after 5 tries"))
}

func TestAzureMalformed(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.Populate("app", 30)
	s.SetSecret("json-secret", `{"password":"malformed-leak-check"}`)
	st := openEmulator(t, s, RetryOptions{})
	ctx := context.Background()

	s.SetFaults(kvtest.Faults{Malformed: []string{kvtest.RouteListSecrets, kvtest.RouteGetSecret}})
	err := st.List(ctx, func(SecretProperties) error { return nil })
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.Error(err, "failed to list secrets from https://emulator.vault.azure.net: Key Vault's reply (HTTP 200) is not valid JSON"))

	_, err = st.Get(ctx, "json-secret", "")
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.ErrorContains(err, "failed to get secret json-secret"))
	assertNoValue(t, []string{"malformed-leak-check", "password"}, err.Error(), fmt.Sprintf("%+v", err))
}

func TestAzureEndlessPaging(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{EndlessPages: true})
	s.Populate("app", 30)
	useEmulator(t, s)
	cred, err := NewCredential("managed-identity", s.HTTPClient())
	assert.NilError(t, err)
	st, err := NewAzureStore(s.VaultURL(), cred, AzureOptions{Transport: s.HTTPClient(), MaxPages: 20})
	assert.NilError(t, err)

	err = st.List(context.Background(), func(SecretProperties) error { return nil })
	assert.Check(t, is.ErrorIs(err, ErrMalformed))
	assert.Check(t, is.ErrorContains(err, "the list did not end after 20 pages"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteListSecrets), 20))
}

func TestAzureTimeout(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("slow", "slow-value")
	st := openEmulator(t, s, RetryOptions{})
	s.SetFaults(kvtest.Faults{Latency: 5 * time.Second})

	const timeout = 500 * time.Millisecond
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, errors.New("timed out after 500ms (--timeout)"))
	defer cancel()
	start := time.Now()
	_, err := st.Get(ctx, "slow", "")
	elapsed := time.Since(start)
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))
	assert.Check(t, is.Error(err, "failed to get secret slow from https://emulator.vault.azure.net: timed out after 500ms (--timeout)"))
	// Generous: the point is "not the 5s latency", not exact timing.
	assert.Check(t, elapsed < timeout+1500*time.Millisecond, "took %s", elapsed)

	// Ctrl-C: the plugin framework cancels the command's context.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start = time.Now()
	err = st.List(ctx, func(SecretProperties) error { return nil })
	assert.Check(t, is.ErrorIs(err, context.Canceled))
	assert.Check(t, is.ErrorContains(err, ": canceled"))
	assert.Check(t, time.Since(start) < 2*time.Second, "took %s", time.Since(start))
}

func TestAzureSignInFailure(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("x", "x-value")
	useEmulator(t, s)
	// A managed identity endpoint that refuses this caller. MSAL caches
	// managed identity tokens process-wide by resource and client id, so
	// ask for an identity no earlier test got a token for.
	t.Setenv("IDENTITY_HEADER", "not-the-header")
	t.Setenv("AZURE_CLIENT_ID", fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12))

	t.Run("managed-identity", func(t *testing.T) {
		st, err := Open(context.Background(), Config{VaultFlag: s.VaultURL(), Credential: "managed-identity"})
		assert.NilError(t, err)
		_, err = st.Get(context.Background(), "x", "")
		assert.Check(t, is.ErrorIs(err, ErrUnauthenticated))
		var sie *SignInError
		assert.Check(t, errors.As(err, &sie))
		assert.Check(t, is.ErrorContains(err, "failed to get secret x from https://emulator.vault.azure.net: could not sign in to Azure with managed-identity"))
		assert.Check(t, is.ErrorContains(err, "run on an Azure resource that has a managed identity"))
		assert.Check(t, !strings.Contains(err.Error(), "\n"), "%q", err.Error())
	})
	t.Run("default chain narrowed by AZURE_TOKEN_CREDENTIALS", func(t *testing.T) {
		t.Setenv("AZURE_TOKEN_CREDENTIALS", "prod")
		st, err := Open(context.Background(), Config{VaultFlag: s.VaultURL()})
		assert.NilError(t, err)
		err = st.List(context.Background(), func(SecretProperties) error { return nil })
		assert.Check(t, is.ErrorIs(err, ErrUnauthenticated))
		assert.Check(t, is.ErrorContains(err, "could not sign in to Azure with DefaultAzureCredential (tried env, workload-identity, managed-identity)"))
		assert.Check(t, is.ErrorContains(err, "set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), or pick one with --credential"))
		assert.Check(t, !strings.Contains(err.Error(), "\n"), "%q", err.Error())
	})
	assert.Check(t, is.Equal(s.Count(kvtest.RouteGetSecret)+s.Count(kvtest.RouteListSecrets), 0), "no authorized request without a token")
}

func TestOpenRejectsBadVaultBeforeAnyRequest(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	useEmulator(t, s)
	_, err := Open(context.Background(), Config{VaultFlag: "http://emulator.vault.azure.net", EnvURL: s.VaultURL()})
	assert.Check(t, is.Error(err, `invalid vault in --vault: vault URL "http://emulator.vault.azure.net" must use https: use https://emulator.vault.azure.net`))
	_, err = Open(context.Background(), Config{})
	assert.Check(t, is.ErrorIs(err, ErrNoVault))
	_, err = Open(context.Background(), Config{VaultFlag: "emulator", Credential: "kerberos"})
	assert.Check(t, is.ErrorContains(err, `unknown credential "kerberos": use one of default, env, workload-identity, managed-identity, azure-cli, azd, azure-powershell`))
	assert.Check(t, is.DeepEqual(s.Counts(), map[string]int{}))
}

// TLS is verified: without the emulator's CA in SSL_CERT_FILE (or the
// system store) nothing is sent past the handshake.
func TestAzureUntrustedCertificate(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("x", "tls-value")
	useEmulator(t, s)
	t.Setenv("SSL_CERT_FILE", "")
	st, err := Open(context.Background(), Config{EnvURL: s.VaultURL()})
	assert.NilError(t, err)
	start := time.Now()
	_, err = st.Get(context.Background(), "x", "")
	assert.Check(t, time.Since(start) < 5*time.Second, "a certificate error is not retried; took %s", time.Since(start))
	assert.Check(t, is.Error(err, "failed to get secret x from https://emulator.vault.azure.net: the TLS certificate of emulator.vault.azure.net is not trusted: install its CA in the system store or name it in SSL_CERT_FILE"))
	assert.Check(t, is.Equal(s.Count(kvtest.RouteChallenge)+s.Count(kvtest.RouteGetSecret), 0))
}

func TestAzureUnreachable(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	useEmulator(t, s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	assert.NilError(t, err)
	closed := l.Addr().String()
	assert.NilError(t, l.Close())
	t.Setenv("HTTPS_PROXY", "http://"+closed)

	st, err := Open(context.Background(), Config{EnvURL: s.VaultURL(), Retry: RetryOptions{MaxRetries: 2, Delay: time.Millisecond}})
	assert.NilError(t, err)
	_, err = st.Get(context.Background(), "x", "")
	assert.Check(t, is.ErrorContains(err, "failed to get secret x from https://emulator.vault.azure.net: cannot reach the vault: proxyconnect tcp: dial tcp "+closed+": connect: connection refused (after 3 tries in "))

	// When the deadline comes first, the message still says why.
	st, err = Open(context.Background(), Config{EnvURL: s.VaultURL(), Retry: RetryOptions{MaxRetries: 100, Delay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
	assert.NilError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = st.Get(ctx, "x", "")
	assert.Check(t, is.ErrorIs(err, context.DeadlineExceeded))
	assert.Check(t, is.Regexp(`: timed out \(\d+ tries; the last failed with proxyconnect tcp: dial tcp `+closed+`: connect: connection refused\)$`, err.Error()))
}

// staleCredential hands out a token the vault does not accept, as an expired
// or revoked one would be.
type staleCredential struct{}

func (staleCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "eyJ0eXAiOiJKV1QifQ.expired.token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestAzureExpiredToken(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("db-password", "expired-token-value")
	useEmulator(t, s)
	st, err := NewAzureStore(s.VaultURL(), staleCredential{}, AzureOptions{Transport: s.HTTPClient()})
	assert.NilError(t, err)
	_, err = st.Get(context.Background(), "db-password", "")
	assert.Check(t, is.ErrorIs(err, ErrUnauthenticated))
	assert.Check(t, !strings.Contains(err.Error(), "\n"), "one line: %q", err.Error())
	t.Log(err)
	assert.Check(t, !strings.Contains(err.Error(), "expired.token"), "the token is not printed")
	assertNoValue(t, []string{"expired-token-value"}, err.Error())
}
