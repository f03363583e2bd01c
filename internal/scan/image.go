package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker-vault/docker-vault/compose"
	"github.com/docker-vault/docker-vault/internal/redact"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
)

type imageHistoryItem = image.HistoryResponseItem

// ImageAPI is the part of the moby client ScanImage uses
// (client.APIClient satisfies it).
type ImageAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImageHistory(ctx context.Context, image string, opts ...client.ImageHistoryOption) (client.ImageHistoryResult, error)
	ImageList(ctx context.Context, opts client.ImageListOptions) (client.ImageListResult, error)
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
	// DaemonHost says whether the engine is local (unix://), so that
	// its storage driver's directories can be read directly.
	DaemonHost() string
}

// ImageOptions tune ScanImage.
type ImageOptions struct {
	// Values are the Key Vault values to look for in the config, the
	// history and the layers the image adds over its base. nil: the
	// config and history are judged by name only, layers are not read.
	Values *Values
}

// The fixes of the image rules, in one line each (Rules has the long help).
const (
	fixImageEnv     = "rebuild without the ENV (read the secret in the RUN that needs it with RUN --mount=type=secret; pass it at run time as a secret) and rotate the value"
	fixImageLabel   = "rebuild without the label and rotate the value"
	fixImageHistory = "rebuild with RUN --mount=type=secret instead of the ARG or ENV, and rotate the value"
	fixImageLayer   = "rebuild without the file (a build secret is never written to a layer), remove the image and rotate the secret"
)

// ScanImage reads image ref through the Engine API and reports secrets in
// its config (Env, labels: judged by name and value with compose.Judge),
// its history (the ARG values baked into RUN lines, ENV, ARG and LABEL
// steps) and, with opts.Values, every form of every Key Vault value in the
// config, the history and the files of the layers the image adds over its
// base (see findBase for how the base is found, readLayers for how the
// layers are read). It never pulls: an image the engine lacks is an error.
// Nothing it returns holds a value.
func ScanImage(ctx context.Context, api ImageAPI, ref string, opts ImageOptions) (*Result, error) {
	img, err := api.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("no such image: %s (scan never pulls: pull or build it first)", ref)
		}
		return nil, fmt.Errorf("failed to inspect image %s: %w", ref, err)
	}
	hist, err := api.ImageHistory(ctx, img.ID)
	if err != nil {
		return nil, fmt.Errorf("failed to read the history of image %s: %w", ref, err)
	}
	s := &imageScan{ref: ref, values: opts.Values, res: &Result{Images: 1}}
	if s.values != nil && s.values.Len() == 0 {
		s.values = nil
	}
	var env []string
	var labels map[string]string
	if img.Config != nil {
		env, labels = img.Config.Env, img.Config.Labels
	}
	s.config(env, labels)
	s.history(hist.Items, env, labels)
	if s.values == nil {
		return s.res, nil
	}
	if img.Config != nil {
		// The rest of the config (Cmd, Entrypoint, ...): Env and labels
		// were searched entry by entry above.
		rest := *img.Config
		rest.Env, rest.Labels = nil, nil
		b, err := json.Marshal(rest)
		if err == nil {
			s.searchConfig(b)
		}
		clear(b)
	}
	base := findBase(ctx, api, img.InspectResponse)
	s.res.Notes = append(s.res.Notes, base.note(ref, len(img.RootFS.Layers)))
	if err := s.layers(ctx, api, img.InspectResponse, base.layers); err != nil {
		return nil, err
	}
	return s.res, nil
}

type imageScan struct {
	ref    string
	values *Values
	res    *Result
}

// add adds f and returns its index: a later add may move the findings,
// so a pointer to one would not last.
func (s *imageScan) add(f Finding) int {
	f.Image = s.ref
	if f.Severity == "" {
		f.Severity = SeverityError
	}
	s.res.Findings = append(s.res.Findings, f)
	return len(s.res.Findings) - 1
}

// attach names the Key Vault secret hit on finding i.
func (s *imageScan) attach(i int, hit [2]string) {
	f := &s.res.Findings[i]
	f.Secret, f.Encoding, f.Severity = hit[0], hit[1], SeverityError
	f.Message += "; " + vaultMessage(hit[0], hit[1])
}

func severity(j compose.Judgment) Severity {
	if j.Weak {
		return SeverityWarning
	}
	return SeverityError
}

// judged reports whether name=value is a secret by compose's rules.
func judged(name, value string) (compose.Judgment, bool) {
	if value == "" {
		return compose.Judgment{}, false
	}
	j := compose.Judge(name, value)
	return j, j.Verdict == compose.VerdictSecret
}

// vaultHits are the Key Vault values found in b: secret names and forms,
// once per secret, in the order found.
func (s *imageScan) vaultHits(b []byte) [][2]string {
	if s.values == nil {
		return nil
	}
	var out [][2]string
	seen := map[int]bool{}
	m := s.values.Matcher()
	m.Each(b, func(k int) bool {
		n := m.Needles()[k]
		if !seen[n.Tag] {
			seen[n.Tag] = true
			out = append(out, [2]string{s.values.names[n.Tag], n.Encoding})
		}
		return true
	})
	return out
}

func vaultMessage(secret, encoding string) string {
	return "holds the value of Key Vault secret " + secret + " (" + encoding + ")"
}

// config judges the Env entries and labels, and looks for the values in
// them. A value found in a variable already judged secret names the Key
// Vault secret on that finding rather than adding another.
func (s *imageScan) config(env []string, labels map[string]string) {
	for _, e := range env {
		name, value, _ := strings.Cut(e, "=")
		s.variable(RuleImageEnv, fixImageEnv, name, value)
	}
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		s.variable(RuleImageLabel, fixImageLabel, name, labels[name])
	}
}

func (s *imageScan) variable(rule, fix, name, value string) {
	judgedAt := -1
	if j, ok := judged(name, value); ok {
		judgedAt = s.add(Finding{Rule: rule, Severity: severity(j), Variable: name, Message: j.Reason, Fix: fix})
	}
	for i, h := range s.vaultHits([]byte(value)) {
		if i == 0 && judgedAt >= 0 {
			s.attach(judgedAt, h)
			continue
		}
		s.add(Finding{Rule: rule, Variable: name, Secret: h[0], Encoding: h[1], Message: vaultMessage(h[0], h[1]), Fix: fix})
	}
}

// searchConfig looks for the values in the rest of the config.
func (s *imageScan) searchConfig(b []byte) {
	for _, h := range s.vaultHits(b) {
		s.add(Finding{Rule: RuleImageLayer, Layer: "config", Secret: h[0], Encoding: h[1], Message: "the image config " + vaultMessage(h[0], h[1]), Fix: fixImageLayer})
	}
}

// maxInstruction bounds how much of a history step a finding quotes.
const maxInstruction = 160

// history judges the assignments of each step of the history (oldest
// first, numbered from 1): the build args a RUN step records, ARG
// defaults, ENV and LABEL. An ENV or LABEL step whose variable the config
// still holds with the same value is left to the config's finding: one
// value, one finding. With values, each step is searched for them too.
func (s *imageScan) history(items []imageHistoryItem, env []string, labels map[string]string) {
	inConfig := map[string]bool{}
	for _, e := range env {
		inConfig["ENV\x00"+e] = true
	}
	for k, v := range labels {
		inConfig["LABEL\x00"+k+"="+v] = true
	}
	for i := range items {
		step := items[len(items)-1-i] // the engine lists the newest first
		st := parseStep(step.CreatedBy)
		var secrets []string
		type judgedVar struct {
			a assignment
			j compose.Judgment
		}
		var found []judgedVar
		for _, a := range st.assignments {
			if (st.kind == "ENV" || st.kind == "LABEL") && inConfig[st.kind+"\x00"+a.name+"="+a.value] {
				continue
			}
			if j, ok := judged(a.name, a.value); ok {
				found = append(found, judgedVar{a, j})
				secrets = append(secrets, a.value)
			}
		}
		hits := s.vaultHits([]byte(step.CreatedBy))
		if len(found) == 0 && len(hits) == 0 {
			continue
		}
		where := "history " + strconv.Itoa(i+1) + ": " + s.maskStep(st, secrets)
		var fs []int // the indices of found's findings
		for _, v := range found {
			what := "ARG " + v.a.name + " baked into the RUN step"
			if st.kind != "RUN" {
				what = st.kind + " " + v.a.name
			}
			fs = append(fs, s.add(Finding{Rule: RuleImageHistory, Severity: severity(v.j), Layer: where, Variable: v.a.name,
				Message: what + ": " + v.j.Reason, Fix: fixImageHistory}))
		}
		for _, h := range hits {
			attached := false
			for _, i := range fs {
				f := s.res.Findings[i]
				if f.Secret == "" && slices.ContainsFunc(s.vaultHits([]byte(assignmentValue(st, f.Variable))), func(x [2]string) bool { return x == h }) {
					s.attach(i, h)
					attached = true
					break
				}
			}
			if !attached {
				s.add(Finding{Rule: RuleImageHistory, Layer: where, Secret: h[0], Encoding: h[1], Message: "the step " + vaultMessage(h[0], h[1]), Fix: fixImageHistory})
			}
		}
	}
}

func assignmentValue(st step, name string) string {
	for _, a := range st.assignments {
		if a.name == name {
			return a.value
		}
	}
	return ""
}

// maskStep is the step's instruction with every judged secret value (at
// its place, and anywhere else it occurs) and every Key Vault value
// masked, cut to maxInstruction.
func (s *imageScan) maskStep(st step, secrets []string) string {
	text := st.text
	var b strings.Builder
	last := 0
	for _, a := range st.assignments {
		if slices.Contains(secrets, a.value) && a.start >= last {
			b.WriteString(text[last:a.start])
			b.WriteString(redact.MaskText)
			last = a.end
		}
	}
	b.WriteString(text[last:])
	out := b.String()
	for _, v := range secrets {
		if len(v) >= redact.MinLen {
			out = strings.ReplaceAll(out, v, redact.MaskText)
		}
	}
	if s.values != nil {
		out = s.values.Mask(out)
	}
	if len(out) > maxInstruction {
		out = strings.ToValidUTF8(out[:maxInstruction], "") + "…"
	}
	return out
}

// step is one history entry as an instruction: its kind (RUN, ENV, ARG,
// LABEL, ...), its text and the assignments it records.
type step struct {
	kind        string
	text        string
	assignments []assignment
}

// assignment is NAME=value in a step's text; start and end bound the
// value (quotes included) in the text.
type assignment struct {
	name, value string
	start, end  int
}

// parseStep reads a history entry's CreatedBy as the builders write it:
//
//	/bin/sh -c #(nop)  ENV A=b            classic builder, no layer
//	|2 A=b C=d /bin/sh -c make            classic builder, RUN with build args
//	RUN |2 A=b C=d /bin/sh -c make # buildkit
//	ENV A=b C=d, ARG A=b, LABEL a=b       BuildKit
//
// Neither builder quotes the build args of a RUN step (a value with a
// blank is written as is), so a word that is not NAME=... is taken as
// part of the value before it, except after the last of the N build
// args, where the command starts. Quoted values (an ENV written with
// quotes) are unquoted.
func parseStep(createdBy string) step {
	text := strings.TrimSpace(createdBy)
	if rest, ok := strings.CutPrefix(text, "/bin/sh -c #(nop) "); ok {
		text = strings.TrimSpace(rest)
	} else if strings.HasPrefix(text, "|") {
		text = "RUN " + text
	}
	kind, _, _ := strings.Cut(text, " ")
	st := step{kind: strings.ToUpper(kind), text: text}
	body := len(kind)
	switch st.kind {
	case "RUN":
		rest := strings.TrimLeft(text[body:], " ")
		off := len(text) - len(rest)
		if !strings.HasPrefix(rest, "|") {
			return st
		}
		count, _, _ := strings.Cut(rest[1:], " ")
		n, err := strconv.Atoi(count)
		if err != nil || n <= 0 {
			return st
		}
		st.assignments = parseAssignments(text, off+1+len(count), n)
	case "ENV", "ARG", "LABEL":
		st.assignments = parseAssignments(text, body, -1)
	}
	return st
}

// word is a blank-separated word of text, quotes respected.
type word struct{ start, end int }

func words(text string, from int) []word {
	var ws []word
	i := from
	for i < len(text) {
		for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		if i >= len(text) {
			break
		}
		start := i
		var quote byte
		for i < len(text) {
			c := text[i]
			switch {
			case quote != 0 && c == quote:
				quote = 0
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
			case c == '\\' && quote != '\'' && i+1 < len(text):
				i++
			case quote == 0 && (c == ' ' || c == '\t'):
				goto done
			}
			i++
		}
	done:
		ws = append(ws, word{start, i})
	}
	return ws
}

// assignmentName is the length of NAME= at the start of w, or 0.
func assignmentName(w string) int {
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case c == '=' && i > 0:
			return i + 1
		case c == '_' || c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9':
		default:
			return 0
		}
	}
	return 0
}

// parseAssignments reads n assignments (every one when n < 0) from the
// words of text after from.
func parseAssignments(text string, from, n int) []assignment {
	var as []assignment
	for _, w := range words(text, from) {
		s := text[w.start:w.end]
		if k := assignmentName(s); k > 0 && (n < 0 || len(as) < n) {
			as = append(as, assignment{name: s[:k-1], start: w.start + k, end: w.end})
			continue
		}
		if len(as) == 0 || (n >= 0 && len(as) == n) {
			if n >= 0 {
				break
			}
			continue // ARG NAME without a value
		}
		// A word of the value before it, written unquoted.
		as[len(as)-1].end = w.end
	}
	for i := range as {
		as[i].value = unquote(text[as[i].start:as[i].end])
	}
	return as
}

// unquote removes shell quotes and backslash escapes.
func unquote(s string) string {
	if !strings.ContainsAny(s, "\"'\\") {
		return s
	}
	var b strings.Builder
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case c == '\\' && quote != '\'' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
