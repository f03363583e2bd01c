package kvtest

import (
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Service limits the emulator enforces, as documented for Key Vault.
const (
	maxValueChars       = 25600
	maxContentTypeChars = 255
	maxTags             = 15
	maxTagNameChars     = 512
	maxTagValueChars    = 256

	recoveryLevel   = "Recoverable+Purgeable"
	recoverableDays = 90
)

var (
	nameRE    = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	versionRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// version is one immutable value of a secret plus its mutable properties.
type version struct {
	id          string
	value       string
	contentType *string
	tags        map[string]string
	enabled     bool
	notBefore   *int64
	expires     *int64
	created     int64
	updated     int64
}

type deletion struct {
	date      int64
	purgeDate int64
	// visibleAt is when the deleted secret shows up under /deletedsecrets:
	// the service completes a soft delete asynchronously.
	visibleAt time.Time
}

type secret struct {
	// name keeps the case the secret was first created with; ids use it.
	name     string
	versions []*version // creation order, latest last
	deleted  *deletion
}

func (s *secret) latest() *version { return s.versions[len(s.versions)-1] }

func (s *secret) version(id string) *version {
	for _, v := range s.versions {
		if strings.EqualFold(v.id, id) {
			return v
		}
	}
	return nil
}

// store is the vault's state. Names are case-insensitive, so the map is keyed
// by the lower-cased name.
type store struct {
	mu      sync.Mutex
	secrets map[string]*secret
	// clock is Options.Clock: nil is the request's own time.
	clock func() time.Time
}

func newStore(clock func() time.Time) *store {
	return &store{secrets: map[string]*secret{}, clock: clock}
}

// stamp is the created or updated time, in the service's whole seconds, of
// a version written at now.
func (st *store) stamp(now time.Time) int64 {
	if st.clock != nil {
		return st.clock().Unix()
	}
	return now.Unix()
}

// setParams is a set request after validation.
type setParams struct {
	value       string
	contentType *string
	tags        map[string]string
	enabled     *bool
	notBefore   *int64
	expires     *int64
}

func validateName(name string) *apiError {
	if !nameRE.MatchString(name) {
		return errBadParameter("The request URI contains an invalid name: %s. Secret names must match ^[0-9a-zA-Z-]{1,127}$.", truncateForMessage(name))
	}
	return nil
}

// truncateForMessage keeps a client's junk input from bloating an error.
func truncateForMessage(s string) string {
	if len(s) > 140 {
		return s[:140] + "..."
	}
	return s
}

func validateProperties(contentType *string, tags map[string]string) *apiError {
	if contentType != nil && utf8.RuneCountInString(*contentType) > maxContentTypeChars {
		return errBadParameter("The contentType is too long: at most %d characters are allowed.", maxContentTypeChars)
	}
	if len(tags) > maxTags {
		return errBadParameter("Too many tags: at most %d are allowed.", maxTags)
	}
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > maxTagNameChars {
			return errBadParameter("Tag names must be 1 to %d characters long.", maxTagNameChars)
		}
		if utf8.RuneCountInString(v) > maxTagValueChars {
			return errBadParameter("The value of tag %s is too long: at most %d characters are allowed.", truncateForMessage(k), maxTagValueChars)
		}
	}
	return nil
}

// set adds a version, creating the secret if needed.
func (st *store) set(name string, p setParams, newID func() string, now time.Time) (*secret, *version, *apiError) {
	if err := validateName(name); err != nil {
		return nil, nil, err
	}
	if utf8.RuneCountInString(p.value) > maxValueChars {
		// The message says how big, never what.
		return nil, nil, errBadParameter("The secret value is too large: at most %d characters are allowed.", maxValueChars)
	}
	if err := validateProperties(p.contentType, p.tags); err != nil {
		return nil, nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(name)
	s := st.secrets[key]
	if s != nil && s.deleted != nil {
		if now.Before(s.deleted.visibleAt) {
			return nil, nil, errBeingDeleted(s.name)
		}
		return nil, nil, errDeletedButRecoverable(s.name)
	}
	if s == nil {
		s = &secret{name: name}
		st.secrets[key] = s
	}
	ts := st.stamp(now)
	v := &version{
		id:          newID(),
		value:       p.value,
		contentType: p.contentType,
		tags:        p.tags,
		enabled:     true,
		notBefore:   p.notBefore,
		expires:     p.expires,
		created:     ts,
		updated:     ts,
	}
	if p.enabled != nil {
		v.enabled = *p.enabled
	}
	s.versions = append(s.versions, v)
	return s, v, nil
}

// active returns a secret that exists and is not deleted.
func (st *store) active(name string) (*secret, *apiError) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	s := st.secrets[strings.ToLower(name)]
	if s == nil || s.deleted != nil {
		return nil, errSecretNotFound(name)
	}
	return s, nil
}

// lookup finds a version of an active secret; an empty id means latest.
func (st *store) lookup(name, id string) (*secret, *version, *apiError) {
	s, err := st.active(name)
	if err != nil {
		return nil, nil, err
	}
	if id == "" {
		return s, s.latest(), nil
	}
	v := s.version(id)
	if v == nil {
		return nil, nil, errSecretNotFound(name + "/" + id)
	}
	return s, v, nil
}

// deletedSecret returns a soft-deleted secret once its deletion is visible.
func (st *store) deletedSecret(name string, now time.Time) (*secret, *apiError) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	s := st.secrets[strings.ToLower(name)]
	if s == nil || s.deleted == nil || now.Before(s.deleted.visibleAt) {
		return nil, errDeletedNotFound(name)
	}
	return s, nil
}

// sortedSecrets lists secrets in the service's order: by name, ignoring case.
func (st *store) sortedSecrets(deleted bool, now time.Time) []*secret {
	out := make([]*secret, 0, len(st.secrets))
	for _, s := range st.secrets {
		switch {
		case !deleted && s.deleted == nil:
			out = append(out, s)
		case deleted && s.deleted != nil && !now.Before(s.deleted.visibleAt):
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	return out
}
