package kvtest

import (
	"net/http"
	"strings"
	"time"
)

// The operations on one secret, as dispatch routes them. Each returns the
// status and body of its reply, or the service's error; the reply is
// rendered under the store's lock, so it shows one consistent state.

func (s *Server) setSecret(req request, r *http.Request, now time.Time) (int, []byte, *apiError) {
	if err := validateName(req.name); err != nil {
		return 0, nil, err
	}
	var in setIn
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Value == nil {
		return 0, nil, errBadParameter("The parameter value is required.")
	}
	p := setParams{value: *in.Value, contentType: in.ContentType, tags: flattenTags(in.Tags)}
	if a := in.Attributes; a != nil {
		var err *apiError
		p.enabled = a.Enabled
		if p.notBefore, err = unixField(a.NotBefore, "nbf"); err != nil {
			return 0, nil, err
		}
		if p.expires, err = unixField(a.Expires, "exp"); err != nil {
			return 0, nil, err
		}
	}
	sec, v, err := s.store.set(req.name, p, s.newVersionID, now)
	if err != nil {
		return 0, nil, err
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	return http.StatusOK, marshal(s.bundle(sec, v, true, true)), nil
}

func (s *Server) getSecret(req request) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, v, err := s.store.lookupRequest(req)
	if err != nil {
		return 0, nil, err
	}
	// nbf and exp are not enforced on get: the service returns the value.
	if !v.enabled {
		return 0, nil, errDisabled()
	}
	return http.StatusOK, marshal(s.bundle(sec, v, true, true)), nil
}

func (s *Server) updateSecret(req request, r *http.Request, now time.Time) (int, []byte, *apiError) {
	var in updateIn
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	var tags map[string]string
	if in.Tags != nil {
		tags = flattenTags(*in.Tags)
	}
	if err := validateProperties(in.ContentType, tags); err != nil {
		return 0, nil, err
	}
	var nbf, exp *int64
	if a := in.Attributes; a != nil {
		var err *apiError
		if nbf, err = unixField(a.NotBefore, "nbf"); err != nil {
			return 0, nil, err
		}
		if exp, err = unixField(a.Expires, "exp"); err != nil {
			return 0, nil, err
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, v, err := s.store.lookupRequest(req)
	if err != nil {
		return 0, nil, err
	}
	if in.ContentType != nil {
		ct := *in.ContentType
		v.contentType = &ct
	}
	if in.Tags != nil {
		v.tags = tags
	}
	if a := in.Attributes; a != nil {
		if a.Enabled != nil {
			v.enabled = *a.Enabled
		}
		if nbf != nil {
			v.notBefore = nbf
		}
		if exp != nil {
			v.expires = exp
		}
	}
	v.updated = s.store.stamp(now)
	return http.StatusOK, marshal(s.bundle(sec, v, false, true)), nil
}

func (s *Server) deleteSecret(req request, f Faults, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.active(req.name)
	if err != nil {
		return 0, nil, err
	}
	sec.deleted = &deletion{
		date:      now.Unix(),
		purgeDate: now.Unix() + recoverableDays*24*60*60,
		visibleAt: now.Add(f.SoftDeleteDelay),
	}
	return http.StatusOK, marshal(s.deletedBundle(sec, true)), nil
}

func (s *Server) getDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, marshal(s.deletedBundle(sec, true)), nil
}

func (s *Server) purgeDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	delete(s.store.secrets, strings.ToLower(sec.name))
	return http.StatusNoContent, nil, nil
}

func (s *Server) recoverDeleted(req request, now time.Time) (int, []byte, *apiError) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	sec, err := s.store.deletedSecret(req.name, now)
	if err != nil {
		return 0, nil, err
	}
	sec.deleted = nil
	return http.StatusOK, marshal(s.bundle(sec, sec.latest(), false, true)), nil
}

// lookupRequest finds the secret and version a request names, as the
// service does: a version that cannot be an id is not found (after the name
// is checked). The caller holds the store's lock.
func (st *store) lookupRequest(req request) (*secret, *version, *apiError) {
	if req.version != "" && !versionRE.MatchString(req.version) {
		if err := validateName(req.name); err != nil {
			return nil, nil, err
		}
		return nil, nil, errSecretNotFound(req.name + "/" + truncateForMessage(req.version))
	}
	return st.lookup(req.name, req.version)
}
