package kvtest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"gotest.tools/v3/assert"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

// sdkClient returns the real azsecrets client, challenge resource
// verification on, authenticated by azidentity's managed identity
// credential against the emulator's App Service token endpoint.
func sdkClient(t testing.TB, s *kvtest.Server, retry policy.RetryOptions) *azsecrets.Client {
	t.Helper()
	setIdentityEnv(t, s)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: s.HTTPClient()},
	})
	assert.NilError(t, err)
	if retry.RetryDelay == 0 {
		// Keep retried tests fast; Retry-After still wins when sent.
		retry.RetryDelay = 5 * time.Millisecond
		retry.MaxRetryDelay = 50 * time.Millisecond
	}
	client, err := azsecrets.NewClient(s.VaultURL(), cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: s.HTTPClient(), Retry: retry},
	})
	assert.NilError(t, err)
	return client
}

// setIdentityEnv selects the App Service managed identity source, as App
// Service itself would, and clears what would select another one.
func setIdentityEnv(t testing.TB, s *kvtest.Server) {
	t.Helper()
	for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("IDENTITY_ENDPOINT", s.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", s.IdentityHeader())
}

// rawResponse is a data-plane reply read in full.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	assert.NilError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// errorCodes returns error.code and error.innererror.code of an error reply.
func (r rawResponse) errorCodes(t *testing.T) (string, string) {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	assert.Assert(t, ok, "no error object in %s", r.body)
	code, _ := e["code"].(string)
	inner := ""
	if ie, ok := e["innererror"].(map[string]any); ok {
		inner, _ = ie["code"].(string)
	}
	return code, inner
}

// call sends one data-plane request through the proxy with a valid token
// (unless token is "-"), adding api-version 7.6 when the path has no query.
func call(t *testing.T, s *kvtest.Server, method, path string, body any) rawResponse {
	t.Helper()
	return callWith(t, s, s.Token(), method, path, body)
}

func callWith(t *testing.T, s *kvtest.Server, token, method, path string, body any) rawResponse {
	t.Helper()
	target := path
	if !strings.HasPrefix(target, "https://") {
		if !strings.Contains(target, "?") {
			target += "?api-version=7.6"
		}
		target = s.VaultURL() + target
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		assert.NilError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, target, rd)
	assert.NilError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "-" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.HTTPClient().Do(req)
	assert.NilError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	assert.NilError(t, err)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: raw}
}

func ptr[T any](v T) *T { return &v }

// assertNoLeak fails if any of the outputs contains value.
func assertNoLeak(t *testing.T, value string, outputs ...string) {
	t.Helper()
	for i, out := range outputs {
		assert.Assert(t, !strings.Contains(out, value), "output %d leaks a secret value", i)
	}
}
