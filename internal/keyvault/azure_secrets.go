package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

func (s *azureStore) Get(ctx context.Context, name, version string) (Secret, error) {
	if err := s.checkName(OpGet, name, version); err != nil {
		return Secret{}, err
	}
	ctx, st := withCallState(ctx)
	resp, err := s.client.GetSecret(ctx, name, version, nil)
	if err != nil {
		return Secret{}, s.fail(ctx, st, OpGet, name, version, err)
	}
	props, err := s.properties(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, resp.Managed)
	if err != nil {
		return Secret{}, s.malformed(OpGet, name, err)
	}
	var value []byte
	if resp.Value != nil {
		value = []byte(*resp.Value)
	}
	return Secret{SecretProperties: props, Value: value}, nil
}

func (s *azureStore) Set(ctx context.Context, name string, value []byte, opts SetOptions) (SecretProperties, error) {
	if err := s.checkName(OpSet, name, ""); err != nil {
		return SecretProperties{}, err
	}
	v := string(value)
	params := azsecrets.SetSecretParameters{Value: &v}
	if opts.ContentType != "" {
		params.ContentType = &opts.ContentType
	}
	if len(opts.Tags) > 0 {
		params.Tags = make(map[string]*string, len(opts.Tags))
		for k, t := range opts.Tags {
			params.Tags[k] = &t
		}
	}
	ctx, st := withCallState(ctx)
	resp, err := s.client.SetSecret(ctx, name, params, nil)
	if err != nil {
		return SecretProperties{}, s.fail(ctx, st, OpSet, name, "", err)
	}
	props, err := s.properties(resp.ID, resp.Attributes, resp.ContentType, resp.Tags, resp.Managed)
	if err != nil {
		return SecretProperties{}, s.malformed(OpSet, name, err)
	}
	return props, nil
}

func (s *azureStore) List(ctx context.Context, fn func(SecretProperties) error) error {
	pager := s.client.NewListSecretPropertiesPager(nil)
	return s.pages(ctx, OpList, "", pager.More, func(ctx context.Context) ([]*azsecrets.SecretProperties, *string, error) {
		page, err := pager.NextPage(ctx)
		return page.Value, page.NextLink, err
	}, fn)
}

func (s *azureStore) Versions(ctx context.Context, name string) ([]SecretProperties, error) {
	if err := s.checkName(OpVersions, name, ""); err != nil {
		return nil, err
	}
	var out []SecretProperties
	pager := s.client.NewListSecretPropertiesVersionsPager(name, nil)
	err := s.pages(ctx, OpVersions, name, pager.More, func(ctx context.Context) ([]*azsecrets.SecretProperties, *string, error) {
		page, err := pager.NextPage(ctx)
		return page.Value, page.NextLink, err
	}, func(p SecretProperties) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// pages drives a pager, refusing the ways a list can fail to end: a
// nextLink seen before (a loop), more than maxPages pages, or a nextLink
// pointing away from the vault (the SDK would follow it and hand that host
// the vault's bearer token).
func (s *azureStore) pages(ctx context.Context, op, name string, more func() bool,
	next func(context.Context) ([]*azsecrets.SecretProperties, *string, error), fn func(SecretProperties) error,
) error {
	seen := map[string]bool{}
	for n := 1; more(); n++ {
		if n > s.maxPages {
			return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed,
				Detail: fmt.Sprintf("the list did not end after %d pages; the service or a proxy keeps sending nextLink", s.maxPages)}
		}
		callCtx, st := withCallState(ctx)
		items, nextLink, err := next(callCtx)
		if err != nil {
			return s.fail(callCtx, st, op, name, "", err)
		}
		for _, item := range items {
			if item == nil {
				continue
			}
			p, err := s.properties(item.ID, item.Attributes, item.ContentType, item.Tags, item.Managed)
			if err != nil {
				return s.malformed(op, name, err)
			}
			if op == OpList {
				// List items carry the base id; say so rather than
				// pass on whatever a proxy may have added.
				p.Version = ""
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		if nextLink != nil && *nextLink != "" {
			if seen[*nextLink] {
				return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed,
					Detail: fmt.Sprintf("page %d repeats an earlier nextLink, so the list would never end", n)}
			}
			seen[*nextLink] = true
			if err := s.checkNextLink(*nextLink); err != nil {
				return &Error{Op: op, Vault: s.url, Name: name, kind: ErrMalformed, Detail: err.Error()}
			}
		}
	}
	return nil
}

func (s *azureStore) checkNextLink(link string) error {
	u, err := url.Parse(link)
	if err != nil {
		return errors.New("the service sent a nextLink that is not a URL")
	}
	// The service writes the port out (https://NAME.vault.azure.net:443/...).
	if !strings.EqualFold(u.Scheme, "https") || !strings.EqualFold(u.Hostname(), s.host) || (u.Port() != "" && u.Port() != "443") {
		return fmt.Errorf("the service sent a nextLink to another host (%s); refusing to follow it", u.Host)
	}
	return nil
}

// properties converts the SDK's model, reading name and version from the id
// itself: the SDK's ID.Name panics on an id it cannot parse.
func (s *azureStore) properties(id *azsecrets.ID, attrs *azsecrets.SecretAttributes, contentType *string, tags map[string]*string, managed *bool) (SecretProperties, error) {
	if id == nil {
		return SecretProperties{}, errors.New("an item has no id")
	}
	u, err := url.Parse(string(*id))
	if err != nil {
		return SecretProperties{}, errors.New("an item's id is not a URL")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" || parts[1] == "" {
		return SecretProperties{}, fmt.Errorf("an item's id %q is not a secret id", u.Path)
	}
	p := SecretProperties{Name: parts[1]}
	if len(parts) == 3 {
		p.Version = parts[2]
	}
	if contentType != nil {
		p.ContentType = *contentType
	}
	if managed != nil {
		p.Managed = *managed
	}
	if attrs != nil {
		// The service omits "enabled" for an enabled secret only in
		// hand-written replies; treat absent as enabled, as the portal does.
		p.Enabled = attrs.Enabled == nil || *attrs.Enabled
		p.Created = timeOf(attrs.Created)
		p.Updated = timeOf(attrs.Updated)
		p.NotBefore = timeOf(attrs.NotBefore)
		p.Expires = timeOf(attrs.Expires)
	} else {
		p.Enabled = true
	}
	if len(tags) > 0 {
		p.Tags = make(map[string]string, len(tags))
		for k, v := range tags {
			if v != nil {
				p.Tags[k] = *v
			}
		}
	}
	return p, nil
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
