package kvtest

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
)

// maxBodyBytes bounds request bodies. A maximal value with tags and
// attributes is far below it.
const maxBodyBytes = 1 << 20

// Wire shapes. Field order follows the service's replies; unset fields are
// omitted, as the service omits them.

type attributesJSON struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
}

type secretJSON struct {
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
	Value              *string           `json:"value,omitempty"`
	ContentType        *string           `json:"contentType,omitempty"`
	ID                 string            `json:"id"`
	Attributes         attributesJSON    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
}

type listJSON struct {
	Value    []secretJSON `json:"value"`
	NextLink *string      `json:"nextLink"`
}

type attributesIn struct {
	Enabled   *bool        `json:"enabled"`
	NotBefore *json.Number `json:"nbf"`
	Expires   *json.Number `json:"exp"`
}

type setIn struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *attributesIn      `json:"attributes"`
	Tags        map[string]*string `json:"tags"`
}

type updateIn struct {
	ContentType *string             `json:"contentType"`
	Attributes  *attributesIn       `json:"attributes"`
	Tags        *map[string]*string `json:"tags"`
}

func (s *Server) secretID(sec *secret, v *version) string {
	id := s.VaultURL() + "/secrets/" + sec.name
	if v != nil {
		id += "/" + v.id
	}
	return id
}

// bundle renders a version. withValue is true only for set and get: every
// other reply of the service leaves the value out.
func (s *Server) bundle(sec *secret, v *version, withValue, versioned bool) secretJSON {
	out := secretJSON{
		ContentType: v.contentType,
		Attributes: attributesJSON{
			Enabled:         v.enabled,
			NotBefore:       v.notBefore,
			Expires:         v.expires,
			Created:         v.created,
			Updated:         v.updated,
			RecoveryLevel:   recoveryLevel,
			RecoverableDays: recoverableDays,
		},
	}
	if versioned {
		out.ID = s.secretID(sec, v)
	} else {
		out.ID = s.secretID(sec, nil)
	}
	if withValue {
		value := v.value
		out.Value = &value
	}
	if len(v.tags) > 0 {
		out.Tags = v.tags
	}
	return out
}

func (s *Server) deletedBundle(sec *secret, versioned bool) secretJSON {
	out := s.bundle(sec, sec.latest(), false, versioned)
	out.RecoveryID = s.VaultURL() + "/deletedsecrets/" + sec.name
	date, purge := sec.deleted.date, sec.deleted.purgeDate
	out.DeletedDate, out.ScheduledPurgeDate = &date, &purge
	return out
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own wire types get here; they always marshal.
		panic("kvtest: " + err.Error())
	}
	return b
}

func decodeBody(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBadParameter("The request body is too large.")
		}
		return errBadParameter("The request body could not be read.")
	}
	if len(body) == 0 {
		return errBadParameter("The request body is missing.")
	}
	if err := json.Unmarshal(body, v); err != nil {
		// Never echo the body: it may hold the value.
		return errBadParameter("The request body is not valid JSON for this operation.")
	}
	return nil
}

func unixField(n *json.Number, field string) (*int64, *apiError) {
	if n == nil {
		return nil, nil
	}
	if i, err := n.Int64(); err == nil {
		return &i, nil
	}
	fl, err := n.Float64()
	if err != nil || fl < 0 || fl > math.MaxInt32*4 {
		return nil, errBadParameter("Invalid value for attributes.%s: it must be a Unix time in seconds.", field)
	}
	i := int64(fl)
	return &i, nil
}

func flattenTags(in map[string]*string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}
