package compose

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// How Detect judges one variable: the rules, then the include and exclude
// lists (the command line's --include/--exclude and x-vault's own), then
// whether the image reads a file variant.

// includedBy names what includes a variable ("--include", "x-vault", both,
// or "" when nothing does), so a reason says where the decision came from.
func (d *detector) includedBy(service, variable string) string {
	return listedBy(
		d.match(d.opts.Include, "--include", service, variable),
		d.match(d.cfg.Include, "x-vault", service, variable), "--include")
}

// excludedBy is includedBy for the exclude lists.
func (d *detector) excludedBy(service, variable string) string {
	return listedBy(
		d.match(d.opts.Exclude, "--exclude", service, variable),
		d.match(d.cfg.Exclude, "x-vault", service, variable), "--exclude")
}

func (d *detector) excluded(service, variable string) bool {
	return d.excludedBy(service, variable) != ""
}

func listedBy(flag, xvault bool, flagName string) string {
	switch {
	case flag && xvault:
		return flagName + " and x-vault"
	case flag:
		return flagName
	case xvault:
		return "x-vault"
	}
	return ""
}

// match tells whether an entry of the list from source matches, and marks
// every entry that does as used.
func (d *detector) match(entries []string, source, service, variable string) bool {
	hit := false
	for _, e := range entries {
		if matches([]string{e}, service, variable) {
			d.used[source+" "+e] = true
			hit = true
		}
	}
	return hit
}

// judge applies the rules and the include and exclude lists to one
// variable.
func (d *detector) judge(f *Finding) valueRule {
	rule := classify(f.Variable, string(f.Value))
	if by := d.excludedBy(f.Service, f.Variable); by != "" {
		rule = valueRule{verdict: VerdictNotSecret, reason: "excluded by " + by}
	} else if by := d.includedBy(f.Service, f.Variable); by != "" {
		if rule.verdict == VerdictSecret {
			rule.reason += "; included by " + by
		} else {
			rule = valueRule{verdict: VerdictSecret, reason: "included by " + by, embedded: rule.embedded}
		}
		rule.weak = false
	}
	f.Verdict, f.Reason, f.Embedded, f.Weak = rule.verdict, rule.reason, rule.embedded, rule.weak
	return rule
}

// imageDesc names the image in reasons.
func imageDesc(svc types.ServiceConfig) string {
	if svc.Image != "" {
		return "image " + NormalizeImage(svc.Image)
	}
	return "the image service " + svc.Name + " builds"
}

// decide turns a verdict into an action. A secret migrate can move is
// moved through, in order: the file variable x-vault names; the one the
// image's own entrypoint scripts read (when the engine had the image); the
// built-in table's, only when the image could not be read; else the
// entrypoint wrapper migrate writes, which exports the variable from the
// secret file in /bin/sh before the image's entrypoint runs. Without
// images (DetectOptions.Images nil) nothing is wrapped: the table decides,
// as it always did.
func (d *detector) decide(f *Finding, rule valueRule, svc types.ServiceConfig) {
	if f.Verdict != VerdictSecret {
		f.Action = ActionSkip
		return
	}
	f.Action = ActionReport
	switch {
	case rule.weak:
		f.Reason += "; not migrated on a guess: list it in x-vault include to migrate it"
	case f.Unset:
		f.Reason += "; no value is set anywhere (pass-through of an unset variable): nothing to move"
	case len(f.Value) == 0:
		f.Reason += "; the value is empty: set it, then migrate"
	default:
		fs, ok, explicit := d.fileVariable(f, svc)
		if ok {
			d.viaFile(f, fs, imageDesc(svc))
		} else {
			d.wrap(f, svc, explicit)
		}
	}
}

// fileVariable is the file variable f's image reads it from, by x-vault
// (explicit, "none" included), else by the image as read, else, when the
// image could not be read or was not given, by the built-in table.
func (d *detector) fileVariable(f *Finding, svc types.ServiceConfig) (fs FileSupport, ok, explicit bool) {
	if fs, ok, explicit = d.cfg.explicitFileSupport(f.Service, svc.Image, f.Variable); explicit {
		return fs, ok, true
	}
	info, given := d.opts.Images[f.Service]
	if given && info.Image != nil {
		fv, found := info.Image.Files.FileVariable(f.Variable)
		if !found {
			return FileSupport{}, false, false
		}
		fs = FileSupport{Variable: fv, Kind: FileVarPath, Source: "image"}
		// pihole's WEBPASSWORD_FILE is a secret name: a script read
		// cannot tell, the table can.
		if tb, inTable := BuiltinFileSupport(svc.Image, f.Variable); inTable && svc.Image != "" && tb.Variable == fv {
			fs.Kind = tb.Kind
		}
		return fs, true, false
	}
	if svc.Image == "" {
		return FileSupport{}, false, false
	}
	fs, ok = BuiltinFileSupport(svc.Image, f.Variable)
	if ok && given {
		fs.Source = "built-in, as " + NormalizeImage(svc.Image) + " could not be read: " + readError(info.Err)
	}
	return fs, ok, false
}

// wrap decides a secret no file variable reads: the entrypoint wrapper
// when images were read, the image has /bin/sh and the name can be
// exported; else reported, with why. Without images (nil: no reader),
// the reason is the one it has always been.
func (d *detector) wrap(f *Finding, svc types.ServiceConfig, explicit bool) {
	img := imageDesc(svc)
	info, given := d.opts.Images[f.Service]
	read := given && info.Image != nil
	var why string
	switch {
	case explicit:
		why = "x-vault says " + img + " has no file variant for " + f.Variable
	case f.Embedded && d.opts.Images == nil:
		why = "the credential is part of a larger value and " + img + " does not read " + f.Variable + "_FILE: the value stays, the app must take the password on its own"
	case read:
		why = img + " does not read " + f.Variable + "_FILE (its entrypoint does not)"
	default:
		why = img + " does not read " + f.Variable + "_FILE"
	}
	hint := ""
	if h := builtinHint(svc.Image, f.Variable); h != "" {
		hint = " (" + h + ")"
	}
	if d.opts.Images == nil {
		if !explicit && !f.Embedded {
			why += "; the variable stays"
		}
		f.Reason += "; " + why + hint
		return
	}
	why += hint
	switch {
	case d.opts.NoWrap:
		f.Reason += "; " + why + "; the variable stays (--no-wrap)"
	case !read && !explicit:
		// Unread, the image said nothing: only the table did.
		f.Reason += "; " + img + " could not be read (" + readError(info.Err) + ") and the built-in table knows no file variant of " + f.Variable + hint + ", so neither a file variable nor a wrapped start can take it: the variable stays"
	case !read:
		f.Reason += "; " + why + "; " + img + " could not be read (" + readError(info.Err) + "), so its start cannot be wrapped: the variable stays"
	case !info.Image.Shell:
		f.Reason += "; " + why + "; " + img + " has no /bin/sh, so its start cannot be wrapped to export " + f.Variable + ": the variable stays"
	case !ShellName(f.Variable):
		f.Reason += "; " + why + "; " + f.Variable + " is not a shell variable name, so the entrypoint wrapper cannot export it: the variable stays"
	default:
		f.Action, f.Via = ActionMigrate, ViaEntrypoint
		f.Reason += "; " + why + ": the service's start is wrapped to export " + f.Variable + " from the secret file"
		if f.Embedded {
			f.Reason += " (the whole value becomes the secret)"
		}
	}
}

// viaFile migrates f through a file variable.
func (d *detector) viaFile(f *Finding, fs FileSupport, img string) {
	f.Action, f.Via = ActionMigrate, ViaFileVariable
	f.FileVariable, f.FileVariableKind = fs.Variable, fs.Kind
	how := "reads " + fs.Variable
	if fs.Kind == FileVarName {
		how += " (a secret name, not a path)"
	}
	switch {
	case fs.Source == "x-vault":
		how += " per x-vault"
	case fs.Source == "image":
		how += " (its entrypoint does)"
	case strings.HasPrefix(fs.Source, "built-in, "):
		how += " (" + fs.Source + ")"
	}
	f.Reason += "; " + img + " " + how
}

// readError is an image read error for a reason. The engine's and the
// reader's messages name images, never a value of the project.
func readError(err error) string {
	if err == nil {
		return "it was not read"
	}
	return err.Error()
}

// ShellName reports whether the wrapper's sh can export the variable:
// [A-Za-z_][A-Za-z0-9_]*.
func ShellName(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isNameByte(v[i], i == 0) {
			return false
		}
	}
	return true
}

// unusedEntries warns about include/exclude entries that matched nothing:
// usually a typo that would silently change nothing. The warning names
// where the entry was written: the command line or x-vault.
func (d *detector) unusedEntries() {
	for _, l := range []struct {
		source  string
		entries []string
	}{{"--include", d.opts.Include}, {"--exclude", d.opts.Exclude}, {"x-vault", d.cfg.Include}, {"x-vault", d.cfg.Exclude}} {
		for _, e := range l.entries {
			if d.used[l.source+" "+e] {
				continue
			}
			if l.source == "x-vault" {
				d.r.Warnings = append(d.r.Warnings, "x-vault entry "+e+" matches no variable")
			} else {
				d.r.Warnings = append(d.r.Warnings, l.source+" "+e+" matches no variable")
			}
		}
	}
}
