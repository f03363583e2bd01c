package kvtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/docker-vault/docker-vault/internal/keyvault/kvtest"
)

func responseError(t *testing.T, err error) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	assert.Assert(t, errors.As(err, &re), "want a ResponseError, got %v", err)
	return re
}

func TestSDKSetGetUpdate(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()
	const value = "sdk-roundtrip-value-7f3a"

	set, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value:       ptr(value),
		ContentType: ptr("text/plain"),
		Tags:        map[string]*string{"team": ptr("core")},
	}, nil)
	assert.NilError(t, err)
	assert.Equal(t, *set.Value, value)
	assert.Equal(t, set.ID.Name(), "db-password")
	assert.Assert(t, is.Len(set.ID.Version(), 32))
	assert.Assert(t, strings.HasPrefix(string(*set.ID), s.VaultURL()+"/secrets/db-password/"))
	assert.Equal(t, *set.Attributes.Enabled, true)
	assert.Equal(t, *set.Attributes.RecoveryLevel, "Recoverable+Purgeable")
	assert.Equal(t, *set.Attributes.RecoverableDays, int32(90))
	// The challenge went out first, unauthenticated and without the body.
	assert.Equal(t, s.Count(kvtest.RouteChallenge), 1)
	assert.Equal(t, s.Count(kvtest.RouteSetSecret), 1)

	// Latest (the SDK sends /secrets/db-password/) and by version.
	latest, err := c.GetSecret(ctx, "db-password", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *latest.Value, value)
	assert.Equal(t, *latest.ID, *set.ID)
	assert.Equal(t, *latest.ContentType, "text/plain")
	assert.Equal(t, *latest.Tags["team"], "core")

	second, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: ptr("second-value")}, nil)
	assert.NilError(t, err)
	assert.Assert(t, second.ID.Version() != set.ID.Version())
	assert.Assert(t, second.ContentType == nil, "a new version does not inherit properties")
	assert.Assert(t, second.Tags == nil)

	old, err := c.GetSecret(ctx, "db-password", set.ID.Version(), nil)
	assert.NilError(t, err)
	assert.Equal(t, *old.Value, value)
	latest, err = c.GetSecret(ctx, "db-password", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *latest.Value, "second-value")
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 3)

	// Update a given version, then the latest (empty version).
	exp := time.Unix(2208992461, 0)
	upd, err := c.UpdateSecretProperties(ctx, "db-password", set.ID.Version(), azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
		ContentType:      ptr("application/json"),
	}, nil)
	assert.NilError(t, err)
	assert.Assert(t, upd.Value == nil, "PATCH replies carry no value")
	assert.Equal(t, upd.Attributes.Expires.Unix(), exp.Unix())
	assert.Equal(t, *upd.ContentType, "application/json")
	assert.Equal(t, *upd.Tags["team"], "core", "tags not sent are kept")

	upd, err = c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		Tags: map[string]*string{"rotated": ptr("yes")},
	}, nil)
	assert.NilError(t, err)
	assert.Equal(t, upd.ID.Version(), second.ID.Version())
	assert.Equal(t, *upd.Tags["rotated"], "yes")
	assert.Equal(t, s.Count(kvtest.RouteUpdateSecret), 2)

	// nbf/exp are not enforced on get: an expired version still reads.
	past := time.Unix(1000, 0)
	_, err = c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &past},
	}, nil)
	assert.NilError(t, err)
	latest, err = c.GetSecret(ctx, "db-password", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *latest.Value, "second-value")

	_, err = c.GetSecret(ctx, "db-password", strings.Repeat("0", 32), nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusNotFound)
	assert.Equal(t, re.ErrorCode, "SecretNotFound")
	_, err = c.GetSecret(ctx, "missing", "", nil)
	re = responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusNotFound)
	assert.Equal(t, re.ErrorCode, "SecretNotFound")
	assertNoLeak(t, value, err.Error())
}

func TestSDKNamesAreCaseInsensitive(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()

	_, err := c.SetSecret(ctx, "MixedCase", azsecrets.SetSecretParameters{Value: ptr("one")}, nil)
	assert.NilError(t, err)
	again, err := c.SetSecret(ctx, "mixedcase", azsecrets.SetSecretParameters{Value: ptr("two")}, nil)
	assert.NilError(t, err)
	// Ids keep the case the secret was created with.
	assert.Equal(t, again.ID.Name(), "MixedCase")
	got, err := c.GetSecret(ctx, "MIXEDCASE", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *got.Value, "two")

	n := 0
	for pager := c.NewListSecretPropertiesVersionsPager("mixedCASE", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		assert.NilError(t, err)
		n += len(page.Value)
	}
	assert.Equal(t, n, 2)
}

func TestSDKListPagesAndVersions(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()

	var want []string
	for i := range 60 {
		name := fmt.Sprintf("list-%02d", i)
		want = append(want, name)
		s.SetSecret(name, "v")
	}
	s.SetEnabled("list-07", false)

	var got []string
	pages := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		assert.NilError(t, err)
		pages++
		for _, item := range page.Value {
			// List items carry the base id, never a version or a value.
			assert.Equal(t, item.ID.Version(), "")
			got = append(got, item.ID.Name())
			if item.ID.Name() == "list-07" {
				assert.Equal(t, *item.Attributes.Enabled, false, "disabled secrets are listed")
			}
		}
	}
	assert.DeepEqual(t, got, want)
	assert.Equal(t, pages, 3) // 25 + 25 + 10
	assert.Equal(t, s.Count(kvtest.RouteListSecrets), 3)
	assert.Equal(t, s.Count(kvtest.RouteGetSecret), 0)

	// Versions, across pages too.
	var versions []string
	for range 30 {
		versions = append(versions, s.SetSecret("many-versions", "v"))
	}
	s.ResetCounts()
	var listed []string
	for pager := c.NewListSecretPropertiesVersionsPager("many-versions", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		assert.NilError(t, err)
		for _, item := range page.Value {
			listed = append(listed, item.ID.Version())
		}
	}
	assert.Equal(t, s.Count(kvtest.RouteListVersions), 2)
	assert.Equal(t, len(listed), 30)
	assert.Assert(t, is.Contains(listed, versions[0]))
	assert.Assert(t, is.Contains(listed, versions[29]))
}

func TestSDKListPageSizeOption(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{PageSize: 7})
	c := sdkClient(t, s, policy.RetryOptions{})
	s.Populate("p", 60)
	n := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(context.Background())
		assert.NilError(t, err)
		assert.Assert(t, len(page.Value) <= 7)
		n += len(page.Value)
	}
	assert.Equal(t, n, 60)
	assert.Equal(t, s.Count(kvtest.RouteListSecrets), 9)
}

func TestSDKDeleteRecoverPurge(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()
	const value = "to-be-deleted-93c1"

	set, err := c.SetSecret(ctx, "gone", azsecrets.SetSecretParameters{Value: ptr(value), Tags: map[string]*string{"k": ptr("v")}}, nil)
	assert.NilError(t, err)

	del, err := c.DeleteSecret(ctx, "gone", nil)
	assert.NilError(t, err)
	assert.Equal(t, *del.ID, *set.ID)
	assert.Equal(t, *del.RecoveryID, s.VaultURL()+"/deletedsecrets/gone")
	assert.Assert(t, del.Value == nil)
	assert.Equal(t, del.ScheduledPurgeDate.Sub(*del.DeletedDate), 90*24*time.Hour)

	// Gone from the active view, at once.
	_, err = c.GetSecret(ctx, "gone", "", nil)
	assert.Equal(t, responseError(t, err).StatusCode, http.StatusNotFound)

	got, err := c.GetDeletedSecret(ctx, "gone", nil)
	assert.NilError(t, err)
	assert.Equal(t, *got.ID, *set.ID)
	assert.Assert(t, got.Value == nil)

	var deleted []string
	for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		assert.NilError(t, err)
		for _, item := range page.Value {
			deleted = append(deleted, item.ID.Name())
			assert.Equal(t, item.ID.Version(), "")
		}
	}
	assert.DeepEqual(t, deleted, []string{"gone"})

	// Setting a soft-deleted name is a conflict.
	_, err = c.SetSecret(ctx, "gone", azsecrets.SetSecretParameters{Value: ptr(value)}, nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusConflict)
	assert.Equal(t, re.ErrorCode, "Conflict")
	assert.Assert(t, is.Contains(err.Error(), "ObjectIsDeletedButRecoverable"))
	assertNoLeak(t, value, err.Error())

	rec, err := c.RecoverDeletedSecret(ctx, "gone", nil)
	assert.NilError(t, err)
	assert.Equal(t, *rec.ID, *set.ID)
	back, err := c.GetSecret(ctx, "gone", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *back.Value, value)

	_, err = c.DeleteSecret(ctx, "gone", nil)
	assert.NilError(t, err)
	_, err = c.PurgeDeletedSecret(ctx, "gone", nil)
	assert.NilError(t, err)
	_, err = c.GetDeletedSecret(ctx, "gone", nil)
	re = responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusNotFound)
	assert.Equal(t, re.ErrorCode, "SecretNotFound")

	// After a purge the name is free again, and starts a new history.
	fresh, err := c.SetSecret(ctx, "gone", azsecrets.SetSecretParameters{Value: ptr("new")}, nil)
	assert.NilError(t, err)
	n := 0
	for pager := c.NewListSecretPropertiesVersionsPager("gone", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		assert.NilError(t, err)
		n += len(page.Value)
	}
	assert.Equal(t, n, 1)
	assert.Assert(t, fresh.ID.Version() != set.ID.Version())
}

func TestSDKSoftDeleteDelay(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{SoftDeleteDelay: 300 * time.Millisecond})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()
	s.SetSecret("slow", "v")

	_, err := c.DeleteSecret(ctx, "slow", nil)
	assert.NilError(t, err)
	_, err = c.GetDeletedSecret(ctx, "slow", nil)
	assert.Equal(t, responseError(t, err).StatusCode, http.StatusNotFound, "the deletion is not visible yet")
	_, err = c.SetSecret(ctx, "slow", azsecrets.SetSecretParameters{Value: ptr("v")}, nil)
	assert.Assert(t, is.Contains(err.Error(), "ObjectIsBeingDeleted"))

	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = c.GetDeletedSecret(ctx, "slow", nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	assert.NilError(t, err)
}

func TestSDKDisabledSecret(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()
	first := s.SetSecret("off", "value-one")

	_, err := c.SetSecret(ctx, "off", azsecrets.SetSecretParameters{
		Value:            ptr("value-two"),
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: ptr(false)},
	}, nil)
	assert.NilError(t, err)

	_, err = c.GetSecret(ctx, "off", "", nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusForbidden)
	assert.Equal(t, re.ErrorCode, "Forbidden")
	assert.Assert(t, is.Contains(err.Error(), "SecretDisabled"))
	assertNoLeak(t, "value-two", err.Error())

	// Older, enabled versions still read.
	old, err := c.GetSecret(ctx, "off", first, nil)
	assert.NilError(t, err)
	assert.Equal(t, *old.Value, "value-one")

	s.SetEnabled("off", true)
	got, err := c.GetSecret(ctx, "off", "", nil)
	assert.NilError(t, err)
	assert.Equal(t, *got.Value, "value-two")
}

func TestSDKThrottleWithRetryAfter(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	s.SetSecret("busy", "v")
	c := sdkClient(t, s, policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Second})
	// Authenticate before turning throttling on: the challenge is answered
	// whatever the faults (they apply to authenticated requests).
	_, err := c.GetSecret(context.Background(), "busy", "", nil)
	assert.NilError(t, err)

	s.SetFaults(kvtest.Faults{ThrottleRate: 1, RetryAfter: time.Second})
	start := time.Now()
	_, err = c.GetSecret(context.Background(), "busy", "", nil)
	elapsed := time.Since(start)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusTooManyRequests)
	assert.Equal(t, re.ErrorCode, "Throttled")
	assert.Equal(t, re.RawResponse.Header.Get("Retry-After"), "1")
	// One retry, after the server's Retry-After rather than the 1ms delay.
	assert.Equal(t, s.Count(kvtest.RouteFaultThrottle), 2)
	assert.Assert(t, elapsed >= time.Second, "retried after %v", elapsed)
}

func TestSDKThrottleWithoutRetryAfter(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{ThrottleRate: 1})
	s.SetSecret("busy", "v")
	c := sdkClient(t, s, policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond})
	start := time.Now()
	_, err := c.GetSecret(context.Background(), "busy", "", nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusTooManyRequests)
	assert.Equal(t, re.RawResponse.Header.Get("Retry-After"), "")
	assert.Equal(t, s.Count(kvtest.RouteFaultThrottle), 3)
	assert.Assert(t, time.Since(start) < time.Second, "backoff used the client's delay")

	// At a partial rate the client's retries get through, and the seeded
	// generator makes the number of 429s the same on every run.
	counts := make([]int, 2)
	for i := range counts {
		s := kvtest.NewServer(t, kvtest.Options{ThrottleRate: 0.5, RandSeed: 42})
		s.SetSecret("busy", "v")
		c := sdkClient(t, s, policy.RetryOptions{MaxRetries: 10})
		for range 10 {
			got, err := c.GetSecret(context.Background(), "busy", "", nil)
			assert.NilError(t, err)
			assert.Equal(t, *got.Value, "v")
		}
		counts[i] = s.Count(kvtest.RouteFaultThrottle)
	}
	assert.Assert(t, counts[0] > 0)
	assert.Equal(t, counts[0], counts[1])
}

func TestSDKServerErrors(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{ErrorRate: 1, ErrorStatus: http.StatusServiceUnavailable})
	c := sdkClient(t, s, policy.RetryOptions{MaxRetries: 1})
	_, err := c.GetSecret(context.Background(), "any", "", nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusServiceUnavailable)
	assert.Equal(t, re.ErrorCode, "ServiceUnavailable")
	assert.Equal(t, s.Count(kvtest.RouteFaultError), 2)
}

func TestSDKForbiddenNames(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{Forbidden: []string{"Locked"}})
	s.SetSecret("locked", "v")
	s.SetSecret("open", "v")
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()

	_, err := c.GetSecret(ctx, "locked", "", nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusForbidden)
	assert.Assert(t, is.Contains(err.Error(), "ForbiddenByPolicy"))
	assert.Assert(t, is.Contains(err.Error(), "getSecret/action"))
	_, err = c.GetSecret(ctx, "open", "", nil)
	assert.NilError(t, err)

	s.SetFaults(kvtest.Faults{Forbidden: []string{"locked"}, ForbiddenCode: "AccessDenied"})
	_, err = c.SetSecret(ctx, "locked", azsecrets.SetSecretParameters{Value: ptr("x")}, nil)
	assert.Assert(t, is.Contains(err.Error(), "AccessDenied"))
	assert.Assert(t, is.Contains(err.Error(), "does not have secrets set permission"))
	assert.Equal(t, s.Count(kvtest.RouteFaultForbidden), 2)
}

func TestSDKNameAndSizeRules(t *testing.T) {
	s := kvtest.NewServer(t, kvtest.Options{})
	c := sdkClient(t, s, policy.RetryOptions{})
	ctx := context.Background()

	for _, name := range []string{"under_score", "dot.ted", strings.Repeat("a", 128), "spa ce"} {
		_, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: ptr("v")}, nil)
		re := responseError(t, err)
		assert.Equal(t, re.StatusCode, http.StatusBadRequest, name)
		assert.Equal(t, re.ErrorCode, "BadParameter", name)
	}
	_, err := c.SetSecret(ctx, strings.Repeat("a", 127), azsecrets.SetSecretParameters{Value: ptr("v")}, nil)
	assert.NilError(t, err)

	maxValue := strings.Repeat("x", 25600)
	_, err = c.SetSecret(ctx, "big", azsecrets.SetSecretParameters{Value: &maxValue}, nil)
	assert.NilError(t, err)
	tooBig := strings.Repeat("y", 25601)
	_, err = c.SetSecret(ctx, "big", azsecrets.SetSecretParameters{Value: &tooBig}, nil)
	re := responseError(t, err)
	assert.Equal(t, re.StatusCode, http.StatusBadRequest)
	assert.Equal(t, re.ErrorCode, "BadParameter")
	assertNoLeak(t, tooBig, err.Error())

	_, err = c.SetSecret(ctx, "ct", azsecrets.SetSecretParameters{Value: ptr("v"), ContentType: ptr(strings.Repeat("c", 256))}, nil)
	assert.Equal(t, responseError(t, err).StatusCode, http.StatusBadRequest)
	_, err = c.SetSecret(ctx, "ct", azsecrets.SetSecretParameters{Value: ptr("v"), ContentType: ptr(strings.Repeat("c", 255))}, nil)
	assert.NilError(t, err)
}
