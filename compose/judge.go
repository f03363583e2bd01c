package compose

import (
	"github.com/compose-spec/compose-go/v2/types"
)

// How Detect judges one variable: the rules, then x-vault's include and
// exclude lists, then whether the image reads a file variant.

func (d *detector) included(service, variable string) bool {
	return d.match(d.cfg.Include, service, variable)
}

func (d *detector) excluded(service, variable string) bool {
	return d.match(d.cfg.Exclude, service, variable)
}

func (d *detector) match(entries []string, service, variable string) bool {
	hit := false
	for _, e := range entries {
		if matches([]string{e}, service, variable) {
			d.used[e] = true
			hit = true
		}
	}
	return hit
}

// judge applies the rules and x-vault to one variable.
func (d *detector) judge(f *Finding) valueRule {
	rule := classify(f.Variable, string(f.Value))
	switch {
	case d.excluded(f.Service, f.Variable):
		rule = valueRule{verdict: VerdictNotSecret, reason: "excluded by x-vault"}
	case d.included(f.Service, f.Variable):
		if rule.verdict == VerdictSecret {
			rule.reason += "; included by x-vault"
		} else {
			rule = valueRule{verdict: VerdictSecret, reason: "included by x-vault", embedded: rule.embedded}
		}
		rule.weak = false
	}
	f.Verdict, f.Reason, f.Embedded = rule.verdict, rule.reason, rule.embedded
	return rule
}

// imageDesc names the image in reasons.
func imageDesc(svc types.ServiceConfig) string {
	if svc.Image != "" {
		return "image " + NormalizeImage(svc.Image)
	}
	return "the image service " + svc.Name + " builds"
}

// decide turns a verdict into an action.
func (d *detector) decide(f *Finding, rule valueRule, svc types.ServiceConfig) {
	if f.Verdict != VerdictSecret {
		f.Action = ActionSkip
		return
	}
	f.Action = ActionReport
	fs, ok, explicit := d.cfg.fileSupport(f.Service, svc.Image, f.Variable)
	img := imageDesc(svc)
	switch {
	case rule.weak:
		f.Reason += "; not migrated on a guess: list it in x-vault include to migrate it"
	case f.Unset:
		f.Reason += "; no value is set anywhere (pass-through of an unset variable): nothing to move"
	case len(f.Value) == 0:
		f.Reason += "; the value is empty: set it, then migrate"
	case !ok:
		switch {
		case explicit:
			f.Reason += "; x-vault says " + img + " has no file variant for " + f.Variable
		case f.Embedded:
			f.Reason += "; the credential is part of a larger value and " + img + " does not read " + f.Variable + "_FILE: the value stays, the app must take the password on its own"
		default:
			f.Reason += "; " + img + " does not read " + f.Variable + "_FILE; the variable stays"
		}
		if h := builtinHint(svc.Image, f.Variable); h != "" {
			f.Reason += " (" + h + ")"
		}
	default:
		f.Action = ActionMigrate
		f.FileVariable, f.FileVariableKind = fs.Variable, fs.Kind
		how := "reads " + fs.Variable
		if fs.Kind == FileVarName {
			how += " (a secret name, not a path)"
		}
		if fs.Source == "x-vault" {
			how += " per x-vault"
		}
		f.Reason += "; " + img + " " + how
	}
}

// unusedEntries warns about x-vault include/exclude entries that matched
// nothing: usually a typo that would silently change nothing.
func (d *detector) unusedEntries() {
	for _, list := range [][]string{d.cfg.Include, d.cfg.Exclude} {
		for _, e := range list {
			if !d.used[e] {
				d.r.Warnings = append(d.r.Warnings, "x-vault entry "+e+" matches no variable")
			}
		}
	}
}
