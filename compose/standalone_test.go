package compose

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
	"gotest.tools/v3/fs"
)

// row renders a finding of a standalone file for comparison.
func row(f Finding) string {
	return f.Variable + "|" + strings.TrimPrefix(f.Source.Position.String(), f.Source.Position.File) + "|" + string(f.Verdict) + "|" + string(f.Action)
}

func TestJudgeEnvFile(t *testing.T) {
	content := "# settings\n" +
		"DB_USER=admin\n" +
		"export DB_PASSWORD=env-pw-1\n" +
		"API_TOKEN: 'quoted-token-1' # comment\n" +
		"MULTI=\"first\nsecond\"\n" +
		"REF_PASSWORD=${OTHER}\n" +
		"URL=postgres://u:url-pw-1@db/app\n" +
		"DB_PASSWORD_FILE=/run/secrets/db_password\n" +
		"  SPACED_SECRET =   spaced-secret-1\n" +
		"INHERITED\n"
	// INHERITED takes its value from the environment: nothing is written.
	found, err := JudgeEnvFile("/p/.env", []byte(content))
	assert.NilError(t, err)
	var got []string
	for _, f := range found {
		got = append(got, row(f))
		assert.Check(t, is.Equal(f.Source.Kind, SourceEnvFile))
		assert.Check(t, is.Equal(f.Source.Position.File, "/p/.env"))
		assert.Check(t, !strings.Contains(f.Reason, "pw-1"), f.Reason)
	}
	assert.Check(t, is.DeepEqual(got, []string{
		"DB_USER|:2:9|not-secret|skip",
		"DB_PASSWORD|:3:20|secret|report",
		"API_TOKEN|:4:12|secret|report",
		"MULTI|:5:7|not-secret|skip",
		"REF_PASSWORD|:7:14|secret|report",
		"URL|:8:5|secret|report",
		"DB_PASSWORD_FILE|:9:18|file-ref|skip",
		"SPACED_SECRET|:10:21|secret|report",
	}))
	byName := map[string]Finding{}
	for _, f := range found {
		byName[f.Variable] = f
	}
	assert.Check(t, is.Equal(string(byName["DB_PASSWORD"].Value), "env-pw-1"))
	assert.Check(t, is.Equal(string(byName["API_TOKEN"].Value), "quoted-token-1"))
	// A reference is not a value written in the file.
	assert.Check(t, is.Equal(string(byName["REF_PASSWORD"].Value), ""))
	assert.Check(t, is.Contains(byName["REF_PASSWORD"].Reason, "empty password slot"))
	assert.Check(t, byName["URL"].Embedded)
}

func TestJudgeEnvFileSample(t *testing.T) {
	// An .env.sample lists the slots with empty values: each is still a
	// finding (an empty password slot), which the scanner drops.
	found, err := JudgeEnvFile(".env.sample", []byte("POSTGRES_PASSWORD=\nPOSTGRES_USER=\nSECRET_KEY_BASE=\"\"\nAPI_TOKEN=${TOKEN:?set TOKEN}\n"))
	assert.NilError(t, err)
	var got []string
	for _, f := range found {
		got = append(got, row(f)+"|"+string(f.Value))
		if f.Verdict == VerdictSecret {
			assert.Check(t, is.Contains(f.Reason, "empty password slot"), f.Variable)
		}
	}
	assert.Check(t, is.DeepEqual(got, []string{
		"POSTGRES_PASSWORD|:1:19|secret|report|",
		"POSTGRES_USER|:2:15|not-secret|skip|",
		"SECRET_KEY_BASE|:3:17|secret|report|",
		"API_TOKEN|:4:11|secret|report|",
	}))
}

func TestJudgeEnvFileBOMAndExportTab(t *testing.T) {
	found, err := JudgeEnvFile("/p/.env", []byte("\ufeffDB_PASSWORD=bom-pw-1\nexport\tAPI_TOKEN=tab-token-1\n"))
	assert.NilError(t, err)
	var got []string
	for _, f := range found {
		got = append(got, row(f))
	}
	assert.Check(t, is.DeepEqual(got, []string{"DB_PASSWORD|:1:13|secret|report", "API_TOKEN|:2:18|secret|report"}))
}

func TestJudgeEnvFileErrorHoldsNoValue(t *testing.T) {
	for name, content := range map[string]string{
		"unterminated": "A=1\nDB_PASSWORD=\"unclosed-pw-1\nB=2\n",
		"bad name":     "A=1\nunclosed-pw-1!=x\n",
		"bad template": "A=1\nDB_PASSWORD=unclosed-pw-1${\n",
	} {
		_, err := JudgeEnvFile("/p/.env", []byte(content))
		assert.Assert(t, err != nil, name)
		var le *LoadError
		assert.Check(t, errors.As(err, &le), name)
		assert.Check(t, is.Equal(le.Line, 2), name)
		assert.Check(t, !strings.Contains(err.Error(), "unclosed-pw-1"), "%s: %v", name, err)
		assert.Check(t, strings.HasPrefix(err.Error(), "/p/.env:2"), "%s: %v", name, err)
	}
}

func TestJudgeEnvFileHugeLine(t *testing.T) {
	// One 32 MB line: the parse and the rules are linear, so this
	// returns (in seconds); a quadratic step would not.
	v := strings.Repeat("aB3x", 8<<20)
	found, err := JudgeEnvFile("/p/.env", []byte("BLOB="+v+"\nDB_PASSWORD=after-pw-1\n"))
	assert.NilError(t, err)
	assert.Assert(t, is.Len(found, 2))
	assert.Check(t, is.Equal(len(found[0].Value), len(v)))
	assert.Check(t, is.Equal(row(found[1]), "DB_PASSWORD|:2:13|secret|report"))
}

const judgeDockerfile = `# syntax=docker/dockerfile:1
FROM alpine AS build
ARG DB_PASSWORD
ARG VERSION=1.2
ENV API_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyz \
    MODE=prod
RUN echo "$VERSION"
RUN ./migrate --password "$DB_PASSWORD" && \
    echo done
RUN <<EOF
curl -H "Authorization: ${API_TOKEN}" https://example.com
EOF
RUN echo $DB_PASSWORDX
ARG NPM_TOKEN=npm-token-1
FROM build
ARG DB_PASSWORD
RUN echo ${DB_PASSWORD:-none}
`

func TestJudgeDockerfile(t *testing.T) {
	found, err := JudgeDockerfile("/p/Dockerfile", []byte(judgeDockerfile))
	assert.NilError(t, err)
	var got []string
	for _, f := range found {
		got = append(got, row(f)+"|"+f.Source.Field)
		assert.Check(t, is.Equal(f.Source.Kind, SourceDockerfile))
		assert.Check(t, !strings.Contains(f.Reason+f.Fix, "npm-token-1"))
	}
	assert.Check(t, is.DeepEqual(got, []string{
		"DB_PASSWORD|:3:1|secret|report|ARG",
		"API_TOKEN|:5:1|secret|report|ENV",
		"NPM_TOKEN|:14:1|secret|report|ARG",
	}))
	assert.Check(t, is.Equal(found[0].Fix, "remove ARG DB_PASSWORD (lines 3, 16); lines 8, 17: RUN --mount=type=secret,id=db_password, and read /run/secrets/db_password instead of $DB_PASSWORD"))
	assert.Check(t, is.Equal(found[1].Fix, "remove ENV API_TOKEN (line 5); line 10: RUN --mount=type=secret,id=api_token, and read /run/secrets/api_token instead of $API_TOKEN; a container that needs it at run time gets it as a compose secret"))
	assert.Check(t, is.Equal(found[2].Fix, "remove ARG NPM_TOKEN (line 14); no RUN reads $NPM_TOKEN: a step that needs the secret uses RUN --mount=type=secret,id=npm_token and reads /run/secrets/npm_token"))
	assert.Check(t, is.Equal(string(found[2].Value), "npm-token-1"))
	assert.Check(t, found[0].Value == nil)
	assert.Check(t, is.Contains(found[1].Reason, "value holds"))
	assert.Check(t, is.Contains(found[0].Reason, "(set 2 times)"))
}

// The Dockerfile a service builds gets the same findings, Fix included,
// through Detect: one path.
func TestJudgeDockerfileSameAsDetect(t *testing.T) {
	r := detectWith(t, "services:\n  app:\n    build: .\n", DetectOptions{}, fs.WithFile("Dockerfile", judgeDockerfile))
	alone, err := JudgeDockerfile("Dockerfile", []byte(judgeDockerfile))
	assert.NilError(t, err)
	var inDetect []Finding
	for _, f := range r.Findings {
		if f.Source.Kind == SourceDockerfile {
			inDetect = append(inDetect, f)
		}
	}
	assert.Assert(t, is.Len(inDetect, len(alone)))
	for i, f := range inDetect {
		assert.Check(t, is.Equal(f.Service, "app"))
		assert.Check(t, is.Equal(f.Variable, alone[i].Variable))
		assert.Check(t, is.Equal(f.Source.Position.Line, alone[i].Source.Position.Line))
		assert.Check(t, is.Equal(f.Reason, alone[i].Reason))
		assert.Check(t, is.Equal(f.Fix, alone[i].Fix))
	}
}

func TestJudgeDockerfileInlineLines(t *testing.T) {
	r := detectWith(t, `services:
  app:
    build:
      context: .
      dockerfile_inline: |
        FROM alpine
        ARG GITHUB_TOKEN
        RUN git clone https://x:$$GITHUB_TOKEN@github.com/o/r
`, DetectOptions{})
	f := finding(t, r, "app", "GITHUB_TOKEN")
	assert.Check(t, is.Equal(f.Source.Position.Line, 7))
	assert.Check(t, is.Equal(f.Fix, "remove ARG GITHUB_TOKEN (line 7); line 8: RUN --mount=type=secret,id=github_token, and read /run/secrets/github_token instead of $GITHUB_TOKEN"))
}

func TestJudgeDockerfileError(t *testing.T) {
	_, err := JudgeDockerfile("/p/Dockerfile", []byte("FROM alpine\nRUN <<EOF\nsecret-text-1\n"))
	assert.Assert(t, err != nil)
	assert.Check(t, !strings.Contains(err.Error(), "secret-text-1"), err.Error())
	assert.Check(t, strings.HasPrefix(err.Error(), "/p/Dockerfile:"), err.Error())
	_, err = JudgeDockerfile("/p/Dockerfile", []byte("# only a comment\n"))
	assert.Check(t, is.ErrorContains(err, "no instructions"))
}

func TestLineList(t *testing.T) {
	for want, lines := range map[string][]int{
		"line 3":             {3},
		"lines 3, 7":         {3, 7},
		"lines 3, 4":         {3, 4},
		"lines 2-5, 9":       {2, 3, 4, 5, 9},
		"lines 1, 3-5, 7, 8": {1, 3, 4, 5, 7, 8},
	} {
		assert.Check(t, is.Equal(lineList(lines), want))
	}
}

func TestReadsVar(t *testing.T) {
	for text, want := range map[string]bool{
		"echo $A":       true,
		"echo ${A}":     true,
		"echo ${A:-x}":  true,
		"echo $AB":      false,
		"echo ${AB}":    false,
		"echo A":        false,
		"echo $B $A.":   true,
		"echo $$":       false,
		"x=${A%%.*} $":  true,
		"printf '%s' $": false,
	} {
		assert.Check(t, is.Equal(readsVar(text, "A"), want), text)
	}
}

// BenchmarkJudgeEnvFileLine judges an env file whose one value is 32 MB,
// and reports its time per byte over that of a 1 MB value measured in the
// same process: near 1 when the parse and the rules are linear.
func BenchmarkJudgeEnvFileLine(b *testing.B) {
	file := func(n int) []byte { return []byte("BLOB=" + strings.Repeat("aB3x", n/4) + "\nDB_PASSWORD=x\n") }
	small, big := file(1<<20), file(32<<20)
	perByte := func(content []byte) float64 {
		start := time.Now()
		if _, err := JudgeEnvFile("/p/.env", content); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(start)) / float64(len(content))
	}
	base := perByte(small)
	b.ResetTimer()
	var ratio float64
	for i := 0; i < b.N; i++ {
		ratio = perByte(big) / base
	}
	b.ReportMetric(ratio, "x-per-byte-vs-1MB")
	b.SetBytes(int64(len(big)))
}
