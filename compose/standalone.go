package compose

import (
	"errors"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// A file on its own, outside a compose project (`docker vault scan PATH`):
// an env file or a Dockerfile, judged with the same parsers and rules as
// the files a project reads.

// unsetMark is what every ${VAR} of a standalone env file expands to, then
// removed: a reference is not a value written in the file. Answering every
// name (rather than none) keeps ${VAR:?} from failing for want of an
// environment and compose-go's template from logging each name it cannot
// resolve. NUL is not text: no env file worth judging holds one.
const unsetMark = "\x00"

// JudgeEnvFile judges every variable of a standalone env file (.env,
// *.env, .env.*), read with compose's own dotenv parser, as compose would
// read it with an environment that sets nothing: a ${VAR} is judged as
// empty, defaults included (the value held is what is written in the
// file). Each finding has Source{Kind: env_file, Position: where the value
// starts}, the verdict and reason of the rules, and Value. Secrets are
// reported (ActionReport), the rest skipped; an empty value of a secret
// name is a secret with the reason "empty password slot", which callers
// that look for values drop. Findings are in file order.
//
// A file compose cannot read is a *LoadError naming the line and why,
// never quoting the file. The work is linear in the size of the file.
func JudgeEnvFile(path string, content []byte) ([]Finding, error) {
	ef := &EnvFile{Path: path, Kind: EnvService, Content: content}
	if err := ef.parse(func(string) (string, bool) { return unsetMark, true }, ""); err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(ef.values))
	for name, v := range ef.values {
		k, written := ef.keys[name]
		if !written {
			continue // KEY alone takes its value from the environment
		}
		v = strings.ReplaceAll(v, unsetMark, "")
		f := Finding{
			Variable: name,
			Source:   Source{Kind: SourceEnvFile, Field: "env_file", Position: Position{File: path, Line: k.Line, Column: k.Column}},
			Value:    []byte(v),
		}
		judgeAlone(&f, classify(name, v))
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Source.Position, out[j].Source.Position
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return out[i].Variable < out[j].Variable
	})
	return out, nil
}

// judgeAlone sets what the rules say of a finding outside a project,
// where nothing is migrated: a secret is reported, the rest skipped.
func judgeAlone(f *Finding, r valueRule) {
	f.Verdict, f.Reason, f.Embedded, f.Weak = r.verdict, r.reason, r.embedded, r.weak
	f.Action = ActionSkip
	if r.verdict == VerdictSecret {
		f.Action = ActionReport
	}
}

// JudgeDockerfile reports the ARG and ENV of a Dockerfile on its own that
// hold a secret, exactly as Detect reports them for a service's
// Dockerfile (same function): BuildKit's SecretsUsedInArgOrEnv name rule
// and the token shapes. Each finding is at the instruction's line, with
// Fix naming the RUN --mount=type=secret to use instead and the line of
// each RUN that reads the variable. A Dockerfile BuildKit cannot parse is
// an error that does not quote it.
func JudgeDockerfile(path string, content []byte) ([]Finding, error) {
	fs, err := dockerfileFindings(&Dockerfile{Path: path, Content: content})
	if err != nil {
		return nil, dockerfileError(path, err)
	}
	return fs, nil
}

// dockerfileError says where and why BuildKit's parser rejected a
// Dockerfile. Its messages can quote the file (an escape directive, the
// rest of a heredoc), so the reason is cut where a quote starts.
func dockerfileError(path string, err error) *LoadError {
	e := &LoadError{File: path}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		e.Line = le.Locations[0][0].Start.Line
		err = le.Unwrap()
	}
	msg := err.Error()
	if i := strings.IndexAny(msg, "\"'`:"); i >= 0 {
		msg = strings.TrimSpace(msg[:i])
	}
	if msg == "" {
		msg = "syntax error"
	}
	e.Reason = "BuildKit cannot parse this Dockerfile: " + msg
	return e
}
