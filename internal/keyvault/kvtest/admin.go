package kvtest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// registerAdmin adds the admin endpoint: test processes that are not the
// one that started the emulator (scripts, e2e tests against the standalone
// program) read counters and steer faults and secrets through it. It has no
// authentication: it listens on loopback only and holds test data only.
func (s *Server) registerAdmin(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/counters", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.Counts())
	})
	mux.HandleFunc("POST /admin/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCounts()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		adminJSON(w, http.StatusOK, s.CurrentFaults())
	})
	mux.HandleFunc("POST /admin/faults", s.adminFaults)
	mux.HandleFunc("POST /admin/secrets/{name}", s.adminSetSecret)
	mux.HandleFunc("POST /admin/secrets/{name}/disable", func(w http.ResponseWriter, r *http.Request) {
		s.adminEnable(w, r, false)
	})
	mux.HandleFunc("POST /admin/secrets/{name}/enable", func(w http.ResponseWriter, r *http.Request) {
		s.adminEnable(w, r, true)
	})
}

func (s *Server) adminFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		adminError(w, http.StatusBadRequest, "failed to read faults: "+err.Error())
		return
	}
	// Changes apply on top of the current faults: fields the JSON leaves
	// out keep their value.
	f := s.CurrentFaults()
	if err := json.Unmarshal(body, &f); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := f.validate(); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.faults.set(f)
	adminJSON(w, http.StatusOK, f)
}

// adminSetSecret stores the raw request body as a new version of the secret,
// so a script can do: curl --data-binary @file $ADMIN/secrets/NAME.
func (s *Server) adminSetSecret(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			adminError(w, http.StatusRequestEntityTooLarge, "value too large")
			return
		}
		adminError(w, http.StatusBadRequest, "failed to read value")
		return
	}
	sec, v, apiErr := s.store.set(name, setParams{value: string(value)}, s.newVersionID, time.Now())
	if apiErr != nil {
		adminError(w, apiErr.status, apiErr.message)
		return
	}
	s.store.mu.Lock()
	id := s.secretID(sec, v)
	s.store.mu.Unlock()
	// The reply names the version, never the value.
	adminJSON(w, http.StatusOK, map[string]string{"id": id, "version": v.id})
}

func (s *Server) adminEnable(w http.ResponseWriter, r *http.Request, enabled bool) {
	if err := s.setEnabled(r.PathValue("name"), enabled); err != nil {
		adminError(w, err.status, err.message)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	adminJSON(w, status, map[string]string{"error": msg})
}
