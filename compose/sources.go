package compose

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// Where Detect looks for secrets: each service's environment, its build
// args, and the Dockerfiles the project builds.

func (d *detector) environment(name string, svc types.ServiceConfig, layers []layer) {
	env := serviceEnv(layers)
	var envFiles []*EnvFile
	for _, ref := range svc.EnvFiles {
		if ef := d.p.envByPath[ref.Path]; ef != nil {
			envFiles = append(envFiles, ef)
		}
	}
	for variable, v := range svc.Environment {
		f := Finding{Service: name, Variable: variable, Image: svc.Image, Source: d.p.traceEnv(env, envFiles, variable)}
		if v != nil {
			f.Value = []byte(*v)
		} else {
			f.Unset = true
		}
		rule := d.judge(&f)
		// Decided once every variable is judged: a copy of a secret's
		// value is only known then (see copies).
		d.pending = append(d.pending, pendingEnv{at: len(d.r.Findings), rule: rule})
		d.r.Findings = append(d.r.Findings, f)
	}
}

// pendingEnv is an environment finding judged but not yet decided.
type pendingEnv struct {
	at   int
	rule valueRule
}

// decideEnvironment decides every environment finding, and records each
// service's non-secret values (user and database names) for commands.
func (d *detector) decideEnvironment() {
	for _, p := range d.pending {
		f := &d.r.Findings[p.at]
		d.decide(f, p.rule, d.m.Services[f.Service])
		if f.Verdict == VerdictNotSecret && len(f.Value) > 0 {
			if d.plain[f.Service] == nil {
				d.plain[f.Service] = map[string]bool{}
			}
			d.plain[f.Service][string(f.Value)] = true
		}
	}
	d.pending = nil
}

// buildArgs lists the build args that hold a secret: by the rules, or as
// a copy of a secret variable's value (origins).
func (d *detector) buildArgs(name string, svc types.ServiceConfig, layers []layer, origins *secretValues) {
	if svc.Build == nil {
		return
	}
	file, node, _ := lastField(layers, "build", "args")
	for arg, v := range svc.Build.Args {
		f := Finding{Service: name, Variable: arg, Image: svc.Image, Source: Source{Kind: SourceBuildArg, Field: "build.args"}}
		if v != nil {
			f.Value = []byte(*v)
		} else {
			f.Unset = true
		}
		if file != nil {
			f.Source.Position = argPosition(file, node, arg)
		}
		if d.judge(&f); f.Verdict == VerdictNotSecret && !d.excluded(name, arg) && !identifierName(arg) {
			if o, ok := origins.original(string(f.Value)); ok {
				of := &d.r.Findings[o]
				f.Verdict, f.Reason = VerdictSecret, "copy of the value of "+of.Service+"."+of.Variable
				d.copyOf[copyKey(&f)] = groupKey(of)
			}
		}
		if f.Verdict != VerdictSecret {
			continue // build args are only listed when they matter
		}
		f.Action = ActionReport
		f.Reason += "; build args are kept in the image history: pass it as a build secret (build.secrets and RUN --mount=type=secret,id=" + secretName(arg) + ")"
		d.r.Findings = append(d.r.Findings, f)
	}
}

// argPosition finds a build.args entry in its map or list node.
func argPosition(f *File, n *yaml.Node, arg string) Position {
	if pos, ok := keyedEntry(f, n, arg); ok {
		return pos
	}
	if n, _ = deref(n); n == nil {
		return Position{File: f.Path}
	}
	return nodePos(f, n)
}

// keyedEntry finds the entry key of a map or list node (build args,
// labels: KEY: value, or - KEY=value): the value, or the list item.
func keyedEntry(f *File, n *yaml.Node, key string) (Position, bool) {
	n, _ = deref(n)
	if n == nil {
		return Position{}, false
	}
	switch n.Kind {
	case yaml.MappingNode:
		for _, p := range mapPairs(n, false) {
			if p.key.Value == key {
				return nodePos(f, p.value), true
			}
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if it, _ := deref(item); it.Kind == yaml.ScalarNode && (it.Value == key || strings.HasPrefix(it.Value, key+"=")) {
				return nodePos(f, it), true
			}
		}
	}
	return Position{}, false
}

func (d *detector) dockerfiles() {
	for _, df := range d.p.Dockerfiles {
		if df.Err != "" {
			d.r.Warnings = append(d.r.Warnings, fmt.Sprintf("Dockerfile %s of %s not checked: %s", df.Path, strings.Join(df.Services, ", "), df.Err))
			continue
		}
		found, err := dockerfileFindings(df)
		if err != nil {
			d.r.Warnings = append(d.r.Warnings, fmt.Sprintf("Dockerfile %s of %s not checked: %v", df.Path, strings.Join(df.Services, ", "), err))
			continue
		}
		service := df.Services[0]
		for _, f := range found {
			f.Service, f.Image = service, d.m.Services[service].Image
			if by := d.excludedBy(service, f.Variable); by != "" {
				f.Verdict, f.Action, f.Reason, f.Fix = VerdictNotSecret, ActionSkip, "excluded by "+by, ""
			}
			d.r.Findings = append(d.r.Findings, f)
		}
	}
}
