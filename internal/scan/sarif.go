package scan

import (
	"encoding/json"
	"io"
	"net/url"
	"path/filepath"
	"strings"
)

// SARIF 2.1.0, the subset GitHub code scanning reads
// (https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).
const (
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	sarifVersion = "2.1.0"
	// srcRoot is the uriBaseId of every file: the repository root (or the
	// root of the scan outside a repository), which GitHub resolves to the
	// checkout.
	srcRoot = "%SRCROOT%"
	// FingerprintKey names Finding.Fingerprint in partialFingerprints; the
	// version changes if the fingerprint's recipe ever does.
	FingerprintKey = "dockerVault/v1"
	// ImageURIScheme locates findings in an image, which is no file of the
	// repository: docker-image:REF[/PATH IN LAYER], each part escaped.
	ImageURIScheme = "docker-image"
	informationURI = "https://github.com/docker-vault/docker-vault"
	toolName       = "docker-vault"
)

// SARIFOptions describe the run.
type SARIFOptions struct {
	// Version is the tool's version.
	Version string
	// Root is the absolute path the findings' files are relative to (the
	// repository root): it becomes %SRCROOT%'s originalUriBaseIds entry.
	// Empty leaves the base to the consumer (GitHub's upload-sarif uses
	// the checkout).
	Root string
}

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                        `json:"tool"`
	Invocations        []sarifInvocation                `json:"invocations"`
	OriginalURIBaseIDs map[string]sarifArtifactLocation `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult                    `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string             `json:"id"`
	Name                 string             `json:"name"`
	ShortDescription     sarifText          `json:"shortDescription"`
	FullDescription      sarifText          `json:"fullDescription"`
	Help                 sarifText          `json:"help"`
	DefaultConfiguration sarifConfiguration `json:"defaultConfiguration"`
	Properties           sarifRuleProps     `json:"properties"`
}

type sarifConfiguration struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	Tags []string `json:"tags"`
	// SecuritySeverity is GitHub's: 9.0 and above is a critical alert, 7.0
	// high, 4.0 medium.
	SecuritySeverity string `json:"security-severity"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Suppressions        []sarifSuppress   `json:"suppressions,omitempty"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifSuppress struct {
	Kind          string `json:"kind"`
	Justification string `json:"justification"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId,omitempty"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

// WriteSARIF writes r as one SARIF 2.1.0 run: every rule (GitHub shows
// their help), every finding (suppressed ones with their suppression, so
// that code scanning closes their alerts) and, as notifications of an
// unsuccessful invocation, the files that could not be read.
func WriteSARIF(w io.Writer, r *Result, o SARIFOptions) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: toolName, Version: o.Version, InformationURI: informationURI,
		}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: len(r.Errors) == 0}},
		Results:     []sarifResult{},
	}
	index := map[string]int{}
	for i, rule := range Rules {
		index[rule.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID:               rule.ID,
			Name:             rule.Name,
			ShortDescription: sarifText{Text: rule.Short},
			FullDescription:  sarifText{Text: rule.Short + ". " + sarifPlain(rule.Help)},
			Help: sarifText{
				Text:     sarifPlain(rule.Help),
				Markdown: "**" + rule.Short + "**\n\n" + rule.Help,
			},
			DefaultConfiguration: sarifConfiguration{Level: string(SeverityError)},
			Properties:           sarifRuleProps{Tags: []string{"security", "secrets"}, SecuritySeverity: "8.0"},
		})
	}
	if o.Root != "" {
		run.OriginalURIBaseIDs = map[string]sarifArtifactLocation{srcRoot: {URI: sarifDirURI(o.Root)}}
	}
	for _, e := range r.Errors {
		run.Invocations[0].Notifications = append(run.Invocations[0].Notifications, sarifNotification{
			Level:     "error",
			Message:   sarifText{Text: "could not read the file: " + e.Err},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifFileLocation(e.File)}}},
		})
	}
	for _, f := range r.Findings {
		i, ok := index[f.Rule]
		if !ok {
			// A rule the contract does not list would make the log
			// invalid for GitHub: refuse it rather than drop the finding.
			return &unknownRuleError{f.Rule}
		}
		res := sarifResult{
			RuleID:              f.Rule,
			RuleIndex:           i,
			Level:               string(f.Severity),
			Message:             sarifText{Text: sarifSentences(f.Message, f.Fix)},
			Locations:           []sarifLocation{sarifLocationOf(f)},
			PartialFingerprints: map[string]string{FingerprintKey: f.Fingerprint},
			Properties:          sarifProperties(f),
		}
		if res.Level == "" {
			res.Level = string(SeverityError)
		}
		if f.Suppressed != "" {
			kind := "inSource" // an ignore comment, an x-vault exclude entry
			if f.Suppressed == SuppressedBaseline {
				kind = "external"
			}
			res.Suppressions = []sarifSuppress{{Kind: kind, Justification: f.Suppressed}}
		}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

type unknownRuleError struct{ rule string }

func (e *unknownRuleError) Error() string { return "finding of unknown rule " + e.rule }

// sarifLocationOf is where GitHub shows a finding: its file below %SRCROOT%, or,
// for an image (no file of the repository), the image by reference.
func sarifLocationOf(f Finding) sarifLocation {
	if f.File == "" {
		return sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifactLocation{URI: ImageURI(f.Image, f.Path)}}}
	}
	loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifFileLocation(f.File)}}
	if f.Line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line, StartColumn: f.Column}
	}
	return loc
}

// sarifFileLocation is a slash-separated path relative to the root, as a
// relative URI reference below %SRCROOT%.
func sarifFileLocation(file string) sarifArtifactLocation {
	return sarifArtifactLocation{URI: sarifEscapePath(filepath.ToSlash(file)), URIBaseID: srcRoot}
}

// ImageURI locates a finding in an image: docker-image:REF, and the path of
// the layer file after a slash.
func ImageURI(ref, path string) string {
	u := ImageURIScheme + ":" + url.PathEscape(ref)
	if path != "" {
		u += "/" + sarifEscapePath(strings.TrimPrefix(path, "/"))
	}
	return u
}

func sarifEscapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// sarifDirURI is the file URI of an absolute folder, ending in a slash as SARIF
// requires of a base.
func sarifDirURI(dir string) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}
	if !strings.HasPrefix(u.Path, "/") {
		u.Path = "/" + u.Path // C:/x on Windows
	}
	s := u.String()
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

// sarifProperties carry the names a result's message may not: service,
// variable, the Key Vault secret and the form it was found in.
func sarifProperties(f Finding) map[string]any {
	p := map[string]any{}
	for k, v := range map[string]string{
		"service": f.Service, "variable": f.Variable, "secret": f.Secret, "encoding": f.Encoding,
		"image": f.Image, "layer": f.Layer, "path": f.Path, "fix": f.Fix,
	} {
		if v != "" {
			p[k] = v
		}
	}
	if len(f.Services) > 1 {
		p["services"] = f.Services
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// sarifSentences joins texts into one, each ending in a period.
func sarifSentences(texts ...string) string {
	var parts []string
	for _, t := range texts {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !strings.HasSuffix(t, ".") {
			t += "."
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " ")
}

// sarifPlain is markdown help as plain text: code spans lose their
// backticks.
func sarifPlain(md string) string { return strings.ReplaceAll(md, "`", "") }
