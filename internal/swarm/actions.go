package swarm

import (
	"fmt"
	"strings"

	"github.com/docker-vault/docker-vault/internal/action"
)

// ActionKind is what the plan does with one secret: the vocabulary sync
// shares with secret files (package action).
type ActionKind = action.Kind

const (
	ActionCreate    = action.Create
	ActionUnchanged = action.Unchanged
	ActionRotate    = action.Rotate
	ActionRelabel   = action.Relabel
	ActionPrune     = action.Prune
	ActionError     = action.Error
	// ActionKeep is a prune that Apply did not carry out because a service
	// or a running task still used the old version when it came to it. It
	// is never the secret's current version: `deploy` must not use it.
	ActionKeep = action.Keep
)

// Action is one step of a Plan.
type Action struct {
	Kind    ActionKind `json:"action"`
	Secret  string     `json:"secret"`
	KVName  string     `json:"vaultSecret,omitempty"`
	Name    string     `json:"swarmSecret,omitempty"` // the swarm secret created, kept, relabelled or pruned
	ID      string     `json:"id,omitempty"`          // the existing swarm secret's id, where there is one
	Version string     `json:"version,omitempty"`
	Updated int64      `json:"-"`
	// Unsettled is recorded on the secret (LabelUnsettled): see Fetched.
	Unsettled bool `json:"unsettled,omitempty"`
	// Confirm: the secret's labels are brought up to date (its version
	// settled) though nothing a service sees changes. Not a change.
	Confirm bool `json:"-"`
	// Services to point at the new secret (rotate), by name.
	Services []string `json:"services,omitempty"`
	// Others are services of other stacks still on an older version of the
	// same secret: reported, never updated without AllStacks.
	Others []string `json:"otherServices,omitempty"`
	// Replaces are the ids of older managed or adopted secrets the services move away from.
	Replaces []string `json:"-"`
	Reason   string   `json:"reason,omitempty"`
}

// Plan is the ordered list of actions of one sync.
type Plan struct {
	Actions []Action `json:"actions"`
}

// Confirms counts the actions that only update what a secret's labels
// record (see Action.Confirm).
func (p Plan) Confirms() int {
	n := 0
	for _, a := range p.Actions {
		if a.Confirm {
			n++
		}
	}
	return n
}

// Changes counts the actions that change Docker.
func (p Plan) Changes() int {
	n := 0
	for _, a := range p.Actions {
		switch a.Kind {
		case ActionCreate, ActionRotate, ActionRelabel, ActionPrune:
			n++
		}
	}
	return n
}

// Errors returns the error actions.
func (p Plan) Errors() []Action {
	var errs []Action
	for _, a := range p.Actions {
		if a.Kind == ActionError {
			errs = append(errs, a)
		}
	}
	return errs
}

// Current maps each desired secret (by Desired.Name) to the swarm secret
// holding its current version: what `deploy` names in the stack. Pruned and
// kept versions are never current.
func (p Plan) Current() map[string]string {
	cur := map[string]string{}
	for _, a := range p.Actions {
		switch a.Kind {
		case ActionCreate, ActionUnchanged, ActionRotate, ActionRelabel:
			if _, seen := cur[a.Secret]; !seen && a.Name != "" {
				cur[a.Secret] = a.Name
			}
		}
	}
	return cur
}

// String renders the plan one action a line, as tests and --dry-run show it.
func (p Plan) String() string {
	var b strings.Builder
	for _, a := range p.Actions {
		fmt.Fprintf(&b, "%-9s %s", a.Kind, a.Secret)
		if a.Name != "" {
			fmt.Fprintf(&b, " -> %s", a.Name)
		}
		if len(a.Services) > 0 {
			fmt.Fprintf(&b, " (services: %s)", strings.Join(a.Services, ", "))
		}
		if a.Reason != "" {
			fmt.Fprintf(&b, ": %s", a.Reason)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
