package yamledit

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/docker-vault/docker-vault/internal/safefmt"
)

// The types of this package that hold a file's bytes or an entry's value
// print names and positions whatever the verb (see safefmt). EnvEntry,
// which has no JSON tags, marshals without Value and Raw; EnvFile and Doc
// have no exported fields to marshal.

func (e EnvEntry) String() string {
	return "environment entry " + e.Key + " at " + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Column)
}

func (e EnvEntry) GoString() string              { return "yamledit.EnvEntry{" + e.String() + "}" }
func (e EnvEntry) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, e) }

func (e EnvEntry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key        string   `json:"key"`
		HasValue   bool     `json:"hasValue"`
		Form       EnvForm  `json:"form"`
		Line       int      `json:"line"`
		Column     int      `json:"column"`
		Anchor     string   `json:"anchor,omitempty"`
		Services   []string `json:"services,omitempty"`
		ValueAlias string   `json:"valueAlias,omitempty"`
	}{e.Key, e.HasValue, e.Form, e.Line, e.Column, e.Anchor, e.Services, e.ValueAlias})
}

func (e *EnvFile) String() string                { return "env file " + e.filename }
func (e *EnvFile) GoString() string              { return "yamledit.EnvFile{" + e.filename + "}" }
func (e *EnvFile) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, e) }
func (e *EnvFile) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"file": e.filename})
}

func (d *Doc) String() string                { return "compose file " + d.filename }
func (d *Doc) GoString() string              { return "yamledit.Doc{" + d.filename + "}" }
func (d *Doc) Format(s fmt.State, verb rune) { safefmt.Format(s, verb, d) }
func (d *Doc) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"file": d.filename})
}
