package secretfile

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/docker-vault/docker-vault/internal/action"
	"github.com/docker-vault/docker-vault/internal/atomicfile"
)

// apply carries a plan out: it claims the files about to be created,
// writes every changed value, and records in the state files the version
// each read found. A secret whose step fails becomes an error Change; the
// others go on.
func apply(plan *Plan, desired []Desired, obs Observed, values map[int][]byte, log io.Writer) {
	claim(plan, desired, obs)
	written := map[string][]int{} // real folder -> secrets whose entry changed
	for i, c := range plan.Changes {
		rec, read := plan.record[i]
		if !read || c.Action == action.Error {
			continue
		}
		f := obs.files[i]
		if c.Action != action.Unchanged {
			if err := atomicfile.WriteFilePerm(obs.root, f.real, values[i], f.perm); err != nil {
				plan.fail(i, err.Error())
				continue
			}
			fmt.Fprintf(log, "%s %s (version %s)\n", pastTense(c.Action), c.Path, c.Version)
		}
		obs.states[f.dir][f.base] = rec
		written[f.dir] = append(written[f.dir], i)
	}
	for dir, idx := range written {
		if err := writeState(obs.root, dir, obs.states[dir]); err != nil {
			for _, i := range idx {
				// The file was written, but the state still records an
				// older version (or none), so the next sync writes it again.
				plan.fail(i, fmt.Sprintf("written, but its version could not be recorded: %v", err))
			}
		}
	}
}

// claim records every file about to be created, with no version, in its
// folder's state before anything is written (see the package
// documentation). A folder whose state cannot be written fails its creates.
func claim(plan *Plan, desired []Desired, obs Observed) {
	creates := map[string][]int{}
	for i, c := range plan.Changes {
		if c.Action == action.Create {
			creates[obs.files[i].dir] = append(creates[obs.files[i].dir], i)
		}
	}
	for dir, idx := range creates {
		st := obs.states[dir]
		for _, i := range idx {
			st[obs.files[i].base] = entry{Secret: desired[i].Name}
		}
		if err := writeState(obs.root, dir, st); err != nil {
			for _, i := range idx {
				delete(st, obs.files[i].base)
				plan.fail(i, fmt.Sprintf("not created: %v", err))
			}
		}
	}
}

func pastTense(k action.Kind) string {
	if k == action.Create {
		return "created"
	}
	return "updated"
}

// writeState writes the state file of the folder dir, through a work
// folder in the project directory root.
func writeState(root, dir string, st map[string]entry) error {
	doc := struct {
		Comment string           `json:"comment"`
		Written time.Time        `json:"written"`
		Files   map[string]entry `json:"files"`
	}{
		Comment: "written by docker vault sync: the secret files here it owns and their Key Vault versions (no values)",
		Written: time.Now().UTC().Truncate(time.Second),
		Files:   st,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(root, filepath.Join(dir, StateFile), append(b, '\n'))
}
