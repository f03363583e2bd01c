package scan

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/golden"
)

func sarifSample(t *testing.T) []byte {
	t.Helper()
	r := &Result{Findings: sampleFindings(), Files: 4, Errors: []FileError{{File: "secrets/prod.env", Err: "permission denied"}}}
	r.Findings[0].Suppressed = SuppressedBaseline
	var buf bytes.Buffer
	assert.NilError(t, WriteSARIF(&buf, r, SARIFOptions{Version: "v1.2.3", Root: "/src/shop"}))
	return buf.Bytes()
}

func TestSARIFGolden(t *testing.T) {
	golden.Assert(t, string(sarifSample(t)), "sarif.golden")
}

// TestSARIFSchema validates the log against SARIF 2.1.0's constraints on
// the objects it holds (testdata/sarif-subset.schema.json, see README.md
// there), then checks what GitHub code scanning needs beyond the schema.
func TestSARIFSchema(t *testing.T) {
	schemaFile, err := os.Open("testdata/sarif-subset.schema.json")
	assert.NilError(t, err)
	defer schemaFile.Close()
	doc, err := jsonschema.UnmarshalJSON(schemaFile)
	assert.NilError(t, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	assert.NilError(t, c.AddResource("sarif-subset.schema.json", doc))
	sch, err := c.Compile("sarif-subset.schema.json")
	assert.NilError(t, err)

	validate := func(data []byte) error {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		assert.NilError(t, err)
		return sch.Validate(v)
	}
	data := sarifSample(t)
	assert.NilError(t, validate(data))

	// The schema does catch what it is for.
	for _, bad := range []string{
		strings.Replace(string(data), `"version": "2.1.0"`, `"version": "2.0.0"`, 1),
		strings.Replace(string(data), `"kind": "external"`, `"kind": "baseline"`, 1),
		strings.Replace(string(data), `"startLine": 7`, `"startLine": 0`, 1),
		strings.Replace(string(data), `"partialFingerprints"`, `"partialFingerprint"`, 1),
		strings.Replace(string(data), `"uri": "compose.yaml"`, `"uri": ""`, 1),
	} {
		assert.Assert(t, bad != string(data))
		assert.Check(t, validate([]byte(bad)) != nil)
	}

	var log struct {
		Schema  string `json:"$schema"`
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version, InformationURI string
					Rules                         []struct {
						ID, Name             string
						Help                 struct{ Text, Markdown string }
						DefaultConfiguration struct{ Level string }
					}
				}
			}
			Invocations []struct {
				ExecutionSuccessful        bool
				ToolExecutionNotifications []json.RawMessage
			}
			OriginalURIBaseIDs map[string]struct{ URI string } `json:"originalUriBaseIds"`
			Results            []struct {
				RuleID    string
				RuleIndex int
				Level     string
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI, URIBaseID string } `json:"artifactLocation"`
						Region           *struct{ StartLine, StartColumn int }
					}
				}
				PartialFingerprints map[string]string
				Suppressions        []struct{ Kind, Justification string }
			}
		}
	}
	assert.NilError(t, json.Unmarshal(data, &log))
	assert.Equal(t, log.Version, "2.1.0")
	assert.Assert(t, is.Len(log.Runs, 1))
	run := log.Runs[0]
	assert.Equal(t, run.Tool.Driver.Name, "docker-vault")
	assert.Equal(t, run.Tool.Driver.Version, "v1.2.3")
	assert.Equal(t, len(run.Tool.Driver.Rules), len(Rules))
	for i, r := range run.Tool.Driver.Rules {
		assert.Equal(t, r.ID, Rules[i].ID)
		assert.Check(t, r.Name != "" && r.Help.Text != "" && r.Help.Markdown != "", r.ID)
	}
	assert.Equal(t, run.OriginalURIBaseIDs["%SRCROOT%"].URI, "file:///src/shop/")
	assert.Equal(t, run.Invocations[0].ExecutionSuccessful, false)
	assert.Equal(t, len(run.Invocations[0].ToolExecutionNotifications), 1)

	fs := sampleFindings()
	assert.Equal(t, len(run.Results), len(fs))
	for i, res := range run.Results {
		f := fs[i]
		// GitHub: ruleIndex points at the rule, a fingerprint per result,
		// file locations relative to the repository root.
		assert.Equal(t, run.Tool.Driver.Rules[res.RuleIndex].ID, res.RuleID)
		assert.Equal(t, res.PartialFingerprints[FingerprintKey], f.Fingerprint)
		assert.Equal(t, res.Level, string(f.Severity))
		assert.Assert(t, is.Len(res.Locations, 1))
		loc := res.Locations[0].PhysicalLocation
		if f.File != "" {
			assert.Equal(t, loc.ArtifactLocation.URIBaseID, "%SRCROOT%")
			assert.Check(t, !strings.HasPrefix(loc.ArtifactLocation.URI, "/") && !strings.HasPrefix(loc.ArtifactLocation.URI, ".."))
			assert.Equal(t, loc.Region.StartLine, f.Line)
			assert.Equal(t, loc.Region.StartColumn, f.Column)
		} else {
			assert.Equal(t, loc.ArtifactLocation.URIBaseID, "")
			assert.Check(t, strings.HasPrefix(loc.ArtifactLocation.URI, "docker-image:shop%2Fapi:1.2"), loc.ArtifactLocation.URI)
		}
	}
	assert.Equal(t, run.Results[4].Locations[0].PhysicalLocation.ArtifactLocation.URI, "docker-image:shop%2Fapi:1.2/app/config%20prod.json")
	assert.DeepEqual(t, run.Results[0].Suppressions, []struct{ Kind, Justification string }{{"external", "baseline"}})
	assert.DeepEqual(t, run.Results[5].Suppressions, []struct{ Kind, Justification string }{{"inSource", "# docker-vault:ignore example from the docs"}})
	assert.Check(t, is.Len(run.Results[1].Suppressions, 0))
}

func TestSARIFEmpty(t *testing.T) {
	var buf bytes.Buffer
	assert.NilError(t, WriteSARIF(&buf, &Result{}, SARIFOptions{Version: "v0"}))
	var log map[string]any
	assert.NilError(t, json.Unmarshal(buf.Bytes(), &log))
	run := log["runs"].([]any)[0].(map[string]any)
	// An empty run still lists its results (GitHub closes the alerts of an
	// upload that has none) and its rules.
	assert.DeepEqual(t, run["results"], []any{})
	assert.Check(t, run["originalUriBaseIds"] == nil)
	assert.Equal(t, run["invocations"].([]any)[0].(map[string]any)["executionSuccessful"], true)
}

func TestSARIFUnknownRule(t *testing.T) {
	err := WriteSARIF(&bytes.Buffer{}, &Result{Findings: []Finding{{Rule: "nope"}}}, SARIFOptions{})
	assert.ErrorContains(t, err, "finding of unknown rule nope")
}
