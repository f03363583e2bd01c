package status

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-vault/docker-vault/internal/keyvault"
	"github.com/docker-vault/docker-vault/internal/mapping"
	"github.com/docker-vault/docker-vault/internal/secretfile"
	"github.com/docker-vault/docker-vault/internal/swarm"
	"github.com/docker-vault/docker-vault/internal/syncer"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

const source = "https://v.vault.azure.net"

var (
	now     = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	updated = now.Add(-72 * time.Hour)
)

// Versions are 32 hex digits; v(1) is 11111111...
func v(n int) string { return strings.Repeat(string(rune('0'+n)), 32) }

func external(key, kv string) mapping.Secret {
	return mapping.Secret{Key: key, Kind: mapping.External, Name: key, KVName: kv}
}

func kvItem(name string, mod ...func(*keyvault.SecretProperties)) keyvault.SecretProperties {
	p := keyvault.SecretProperties{Name: name, Enabled: true, Updated: updated}
	for _, m := range mod {
		m(&p)
	}
	return p
}

func vaultOf(items ...keyvault.SecretProperties) map[string]keyvault.SecretProperties {
	out := map[string]keyvault.SecretProperties{}
	for _, p := range items {
		out[strings.ToLower(p.Name)] = p
	}
	return out
}

// managed is a managed swarm secret of compose secret key (Key Vault kv)
// made from version n of it, created age ago, whose Key Vault "updated"
// time was at.
func managed(key, kv string, n int, at time.Time, age time.Duration) swarm.Managed {
	return swarm.Managed{
		ID: "id-" + key + "-" + v(n)[:8], Name: swarm.VersionedName(key, v(n)),
		Secret: key, Version: v(n), Source: source, KVName: kv, Updated: at.Unix(),
		Created: now.Add(-age),
	}
}

func service(name, stack string, secretIDs ...string) swarm.Service {
	s := swarm.Service{ID: "svc-" + name, Name: name, Stack: stack}
	for _, id := range secretIDs {
		s.Secrets = append(s.Secrets, swarm.SecretRef{SecretID: id})
	}
	return s
}

func build(in Input) []Row {
	in.Source, in.Now, in.Stack = source, now, "proj"
	if in.Keep == 0 {
		in.Keep = 1
	}
	if in.ExpiryWarning == 0 {
		in.ExpiryWarning = 30 * 24 * time.Hour
	}
	if in.Swarm.Unmanaged == nil {
		in.Swarm.Unmanaged = map[string]string{}
	}
	return Build(in)
}

func TestSwarmStates(t *testing.T) {
	old := updated.Add(-24 * time.Hour)
	cases := []struct {
		name  string
		in    Input
		want  string
		drift bool
	}{
		{
			name: "in sync",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)}},
			},
			want: "db external vault=enabled@11111111 docker=in-sync\n",
		},
		{
			name: "changed in Key Vault",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, old, time.Hour)}},
			},
			want:  "db external vault=enabled docker=stale: Key Vault secret changed 2026-12-04 12:00 UTC, after version 11111111 was synced\n",
			drift: true,
		},
		{
			name: "read within its second: in sync, unconfirmed",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{func() swarm.Managed {
					m := managed("db", "db-pw", 1, updated, time.Hour)
					m.Unsettled = true
					return m
				}()}},
			},
			want: "db external vault=enabled@11111111 docker=in-sync: version read within its Key Vault update second: the next sync confirms it\n",
		},
		{
			name: "stale: services of the stack and of another on an older version",
			in: Input{
				Swarm: swarm.Observed{
					Managed: []swarm.Managed{managed("db", "db-pw", 2, updated, time.Hour), managed("db", "db-pw", 1, old, 2*time.Hour)},
					Services: []swarm.Service{
						service("proj_app", "proj", "id-db-11111111"),
						service("other_app", "other", "id-db-11111111"),
						service("proj_new", "proj", "id-db-22222222"),
					},
				},
			},
			want:  "db external vault=enabled@22222222 docker=stale: services on an older version: proj_app; services of other stacks on an older version: other_app (sync --all-stacks updates them)\n",
			drift: true,
		},
		{
			name: "unmanaged secret of the same name in use, nothing managed",
			in: Input{
				Swarm: swarm.Observed{
					Unmanaged: map[string]string{"db": "hand-made"},
					Services:  []swarm.Service{service("proj_app", "proj", "hand-made")},
				},
			},
			want:  "db external vault=enabled docker=unmanaged: swarm secret db is not managed by docker vault (used by proj_app)\n",
			drift: true,
		},
		{
			name: "unmanaged secret of the same name still used beside the managed one",
			in: Input{
				Swarm: swarm.Observed{
					Managed:   []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)},
					Unmanaged: map[string]string{"db": "hand-made"},
					Services:  []swarm.Service{service("proj_app", "proj", "hand-made")},
				},
			},
			want:  "db external vault=enabled@11111111 docker=unmanaged: swarm secret db, not managed by docker vault, is used by proj_app\n",
			drift: true,
		},
		{
			name: "unmanaged secret of the same name, unused, beside the managed one",
			in: Input{
				Swarm: swarm.Observed{
					Managed:   []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)},
					Unmanaged: map[string]string{"db": "hand-made"},
				},
			},
			want: "db external vault=enabled@11111111 docker=in-sync\n",
		},
		{
			name: "orphaned versions beyond --keep",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{
					managed("db", "db-pw", 3, updated, time.Hour),
					managed("db", "db-pw", 2, old, 2*time.Hour),
					managed("db", "db-pw", 1, old, 3*time.Hour),
				}},
			},
			want:  "db external vault=enabled@33333333 docker=orphaned: orphaned managed versions (the next sync removes them): db_11111111\n",
			drift: true,
		},
		{
			name: "an old version a task still uses is no orphan",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{
					managed("db", "db-pw", 3, updated, time.Hour),
					managed("db", "db-pw", 2, old, 2*time.Hour),
					managed("db", "db-pw", 1, old, 3*time.Hour),
				}},
				Users: map[string]string{"id-db-11111111": "task abc"},
			},
			want: "db external vault=enabled@33333333 docker=in-sync\n",
		},
		{
			name: "--keep 2 keeps two previous versions",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{
					managed("db", "db-pw", 3, updated, time.Hour),
					managed("db", "db-pw", 2, old, 2*time.Hour),
					managed("db", "db-pw", 1, old, 3*time.Hour),
				}},
				Options: Options{Keep: 2},
			},
			want: "db external vault=enabled@33333333 docker=in-sync\n",
		},
		{
			name:  "not in the swarm yet",
			in:    Input{},
			want:  "db external vault=enabled docker=missing: no swarm secret holds it yet\n",
			drift: true,
		},
		{
			name: "another identity's versions are not ours",
			in: Input{
				Swarm: swarm.Observed{Managed: []swarm.Managed{managed("db", "other-kv", 1, updated, time.Hour)}},
			},
			want:  "db external vault=enabled docker=missing: no swarm secret holds it yet\n",
			drift: true,
		},
		{
			name: "missing in Key Vault",
			in: Input{
				Vault: vaultOf(),
				Swarm: swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)}},
			},
			want:  "db external vault=missing docker=unknown: Key Vault secret \"db-pw\" does not exist in https://v.vault.azure.net; Docker holds db_11111111 (version 11111111)\n",
			drift: true,
		},
		{
			name: "disabled in Key Vault",
			in: Input{
				Vault: vaultOf(kvItem("db-pw", func(p *keyvault.SecretProperties) { p.Enabled = false })),
			},
			want:  "db external vault=disabled docker=unknown: Key Vault secret \"db-pw\" is disabled\n",
			drift: true,
		},
		{
			name: "pinned version in the swarm",
			in: Input{
				Secrets: []mapping.Secret{func() mapping.Secret { s := external("db", "db-pw"); s.Version = v(1); return s }()},
				Vault:   vaultOf(kvItem("db-pw", func(p *keyvault.SecretProperties) { p.Expires = now.Add(-time.Hour) })),
				Swarm:   swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, old, time.Hour)}},
			},
			want: "db external vault=enabled@11111111 docker=in-sync\n",
		},
		{
			name: "pinned version not in the swarm",
			in: Input{
				Secrets: []mapping.Secret{func() mapping.Secret { s := external("db", "db-pw"); s.Version = v(1); return s }()},
				Swarm:   swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 2, updated, time.Hour)}},
			},
			want:  "db external vault=enabled@11111111 docker=stale: pinned version 11111111 is not in the swarm yet (it holds db_22222222)\n",
			drift: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Unless the case says otherwise: compose secret db, of Key
			// Vault secret db-pw, enabled.
			if tc.in.Secrets == nil {
				tc.in.Secrets = []mapping.Secret{external("db", "db-pw")}
			}
			if tc.in.Vault == nil {
				tc.in.Vault = vaultOf(kvItem("db-pw"))
			}
			rows := build(tc.in)
			assert.Equal(t, String(rows), tc.want)
			assert.Equal(t, rows[0].Drift(), tc.drift)
		})
	}
}

func TestStaleServicesAreNamed(t *testing.T) {
	old := updated.Add(-time.Hour)
	rows := build(Input{
		Secrets: []mapping.Secret{external("db", "db-pw")},
		Vault:   vaultOf(kvItem("db-pw")),
		Swarm: swarm.Observed{
			Managed:  []swarm.Managed{managed("db", "db-pw", 2, updated, time.Hour), managed("db", "db-pw", 1, old, 2*time.Hour)},
			Services: []swarm.Service{service("proj_b", "proj", "id-db-11111111"), service("proj_a", "proj", "id-db-11111111"), service("x", "", "id-db-11111111")},
		},
	})
	assert.DeepEqual(t, rows[0].Services, []string{"proj_a", "proj_b"})
	assert.DeepEqual(t, rows[0].Others, []string{"x"})
	assert.Equal(t, rows[0].Current, "db_22222222")
	assert.Equal(t, rows[0].Holds, v(2))
}

func TestExpiry(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*keyvault.SecretProperties)
		want string
	}{
		{"far", func(p *keyvault.SecretProperties) { p.Expires = now.Add(90 * 24 * time.Hour) }, "db external vault=enabled@11111111 docker=in-sync\n"},
		{"expiring", func(p *keyvault.SecretProperties) { p.Expires = now.Add(10 * 24 * time.Hour) },
			"db external vault=enabled@11111111 expiring docker=in-sync: expires 2026-12-17 12:00 UTC (in 10 days)\n"},
		{"expiring within hours", func(p *keyvault.SecretProperties) { p.Expires = now.Add(5 * time.Hour) },
			"db external vault=enabled@11111111 expiring docker=in-sync: expires 2026-12-07 17:00 UTC (in 5 hours)\n"},
		{"expired", func(p *keyvault.SecretProperties) { p.Expires = now.Add(-time.Minute) },
			"db external vault=enabled@11111111 expired docker=in-sync: expired 2026-12-07 11:59 UTC\n"},
		{"not yet valid", func(p *keyvault.SecretProperties) { p.NotBefore = now.Add(24 * time.Hour) },
			"db external vault=enabled@11111111 not-yet-valid docker=in-sync: not valid before 2026-12-08 12:00 UTC\n"},
		{"valid since", func(p *keyvault.SecretProperties) { p.NotBefore = now.Add(-24 * time.Hour) }, "db external vault=enabled@11111111 docker=in-sync\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := build(Input{
				Secrets: []mapping.Secret{external("db", "db-pw")},
				Vault:   vaultOf(kvItem("db-pw", tc.mod)),
				Swarm:   swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)}},
			})
			assert.Equal(t, String(rows), tc.want)
			assert.Equal(t, rows[0].Drift(), rows[0].Expiry != ExpiryNone)
		})
	}
	// A shorter window does not warn of an exp 10 days away.
	rows := build(Input{
		Secrets: []mapping.Secret{external("db", "db-pw")},
		Vault:   vaultOf(kvItem("db-pw", func(p *keyvault.SecretProperties) { p.Expires = now.Add(10 * 24 * time.Hour) })),
		Swarm:   swarm.Observed{Managed: []swarm.Managed{managed("db", "db-pw", 1, updated, time.Hour)}},
		Options: Options{ExpiryWarning: 7 * 24 * time.Hour},
	})
	assert.Equal(t, rows[0].Expiry, ExpiryNone)
	assert.Equal(t, rows[0].Expires, now.Add(10*24*time.Hour))
}

// fileProject makes a project folder with a secrets folder (0700) and
// returns it.
func fileProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	assert.NilError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
	return dir
}

// record writes the state file entry sync writes for a file.
func record(t *testing.T, dir string, files map[string]map[string]any) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"files": files})
	assert.NilError(t, err)
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "secrets", secretfile.StateFile), b, 0o600))
}

func writeFile(t *testing.T, dir, name string) {
	t.Helper()
	assert.NilError(t, os.WriteFile(filepath.Join(dir, "secrets", name), []byte("not a real value"), 0o600))
}

func fileSecret(dir, key, kv string) mapping.Secret {
	return mapping.Secret{Key: key, Kind: mapping.File, Name: key, KVName: kv, Path: filepath.Join(dir, "secrets", key)}
}

func buildFiles(t *testing.T, dir string, secrets []mapping.Secret, vault map[string]keyvault.SecretProperties) []Row {
	t.Helper()
	_, files := syncer.Split(secrets, nil)
	obs, err := secretfile.Observe(dir, files)
	assert.NilError(t, err)
	return build(Input{Secrets: secrets, Vault: vault, Files: obs})
}

func TestFileStates(t *testing.T) {
	dir := fileProject(t)
	writeFile(t, dir, "current")
	writeFile(t, dir, "stale")
	writeFile(t, dir, "byhand")
	writeFile(t, dir, "pinned")
	writeFile(t, dir, "unsettled")
	record(t, dir, map[string]map[string]any{
		"current":   {"secret": "current", "version": v(1), "updated": updated.Unix()},
		"stale":     {"secret": "stale", "version": v(1), "updated": updated.Add(-time.Hour).Unix()},
		"gone":      {"secret": "gone", "version": v(1), "updated": updated.Unix()},
		"pinned":    {"secret": "pinned", "version": v(2), "updated": updated.Unix()},
		"unsettled": {"secret": "unsettled", "version": v(3), "updated": updated.Unix(), "unsettled": true},
	})
	pinned := fileSecret(dir, "pinned", "pinned")
	pinned.Version = v(1)
	secrets := []mapping.Secret{
		fileSecret(dir, "byhand", "byhand"),
		fileSecret(dir, "current", "current"),
		fileSecret(dir, "gone", "gone"),
		fileSecret(dir, "missing", "missing"),
		pinned,
		fileSecret(dir, "stale", "stale"),
		fileSecret(dir, "unsettled", "unsettled"),
		fileSecret(dir, "nokv", "nokv"),
	}
	rows := buildFiles(t, dir, secrets, vaultOf(kvItem("byhand"), kvItem("current"), kvItem("gone"), kvItem("missing"), kvItem("pinned"), kvItem("stale"), kvItem("unsettled")))
	path := func(key string) string { return filepath.Join(dir, "secrets", key) }
	assert.Equal(t, String(rows), strings.Join([]string{
		"byhand file vault=enabled docker=unmanaged: " + path("byhand") + " exists and was not written by docker vault; remove it, or pass --force-file " + path("byhand"),
		"current file vault=enabled@11111111 docker=in-sync",
		"gone file vault=enabled docker=missing: the file does not exist yet",
		"missing file vault=enabled docker=missing: the file does not exist yet",
		"pinned file vault=enabled@11111111 docker=stale: the file holds version 22222222, not the pinned 11111111",
		"stale file vault=enabled docker=stale: Key Vault secret changed 2026-12-04 12:00 UTC, after version 11111111 was written",
		"unsettled file vault=enabled@33333333 docker=in-sync: version read within its Key Vault update second: the next sync confirms it",
		"nokv file vault=missing docker=unknown: Key Vault secret \"nokv\" does not exist in https://v.vault.azure.net",
		"",
	}, "\n"))
	for _, r := range rows {
		assert.Check(t, is.Equal(r.Target, path(r.Secret)))
	}
	assert.Equal(t, rows[1].Holds, v(1))
	assert.Equal(t, rows[5].Holds, v(1))
}

func TestFileOutsideTheProjectIsAnError(t *testing.T) {
	dir := fileProject(t)
	s := mapping.Secret{Key: "out", Kind: mapping.File, KVName: "out", Path: filepath.Join(t.TempDir(), "out")}
	rows := buildFiles(t, dir, []mapping.Secret{s}, vaultOf(kvItem("out")))
	assert.Equal(t, rows[0].State, Error)
	assert.Check(t, is.Contains(rows[0].Detail(), "is outside the project directory"))
	assert.Check(t, rows[0].Drift())
}

// Both kinds in one project keep the secrets' order; local secrets have
// no row.
func TestRowsFollowTheProject(t *testing.T) {
	dir := fileProject(t)
	secrets := []mapping.Secret{
		external("a", "a"),
		fileSecret(dir, "b", "b"),
		{Key: "c", Kind: mapping.File, Local: true, Path: filepath.Join(dir, "c")},
		external("d", "d"),
	}
	_, files := syncer.Split(secrets, nil)
	obs, err := secretfile.Observe(dir, files)
	assert.NilError(t, err)
	rows := build(Input{
		Secrets: secrets, Vault: vaultOf(kvItem("a"), kvItem("b"), kvItem("d")), Files: obs,
		Swarm: swarm.Observed{Managed: []swarm.Managed{managed("a", "a", 1, updated, time.Hour), managed("d", "d", 4, updated, time.Hour)}},
	})
	assert.Equal(t, String(rows), "a external vault=enabled@11111111 docker=in-sync\n"+
		"b file vault=enabled docker=missing: the file does not exist yet\n"+
		"d external vault=enabled@44444444 docker=in-sync\n")
	assert.Equal(t, Summarize(rows).String(), "1 of 3 secrets drift from Key Vault")
}

func TestSummary(t *testing.T) {
	assert.Equal(t, Summary{Total: 4}.String(), "all 4 secrets are in sync")
	assert.Equal(t, Summary{Total: 4, Drift: 1, Expiry: 2}.String(), "1 of 4 secrets drift from Key Vault, 2 expiry warnings")
	assert.Equal(t, Summary{Total: 4, Expiry: 1}.String(), "1 expiry warning")
}

// planEach plans each secret against its own managed versions: the same
// actions as one plan of all of them against the whole swarm.
func TestPlanEachIsThePlanOfAll(t *testing.T) {
	old := updated.Add(-time.Hour)
	desired := []swarm.Desired{{Name: "a", KVName: "a"}, {Name: "b", KVName: "b"}, {Name: "c", KVName: "c"}, {Name: "d", KVName: "d", Version: v(2)}, {Name: "e", KVName: "e"}}
	obs := swarm.Observed{
		Managed: []swarm.Managed{
			managed("a", "a", 3, updated, time.Hour), managed("a", "a", 2, old, 2*time.Hour), managed("a", "a", 1, old, 3*time.Hour),
			managed("b", "b", 1, old, time.Hour), managed("b", "other", 2, updated, time.Minute),
			managed("d", "d", 2, old, time.Hour), managed("d", "d", 1, old, 2*time.Hour),
			managed("x", "x", 1, old, time.Hour),
		},
		Unmanaged: map[string]string{"e": "hand"},
		Services:  []swarm.Service{service("proj_s", "proj", "id-a-22222222", "id-d-11111111"), service("o", "other", "id-a-11111111"), service("u", "proj", "hand")},
	}
	vault := vaultOf(kvItem("a"), kvItem("b"), kvItem("c", func(p *keyvault.SecretProperties) { p.Enabled = false }), kvItem("d"), kvItem("e"))
	items := swarm.VaultItems(vault)
	po := swarm.PlanOptions{Source: source, Keep: 1, Stack: "proj"}
	lines := func(p swarm.Plan) []string {
		out := strings.Split(strings.TrimSpace(p.String()), "\n")
		slices.Sort(out)
		return out
	}
	var each swarm.Plan
	var need []string
	for i, f := range planEach(desired, items, obs, po) {
		each.Actions = append(each.Actions, f.plan.Actions...)
		if f.need {
			need = append(need, desired[i].Name)
		}
	}
	assert.DeepEqual(t, lines(each), lines(swarm.MakePlan(desired, items, nil, obs, po)))
	var all []string
	for _, d := range swarm.NeedsFetch(desired, items, obs, source) {
		all = append(all, d.Name)
	}
	assert.DeepEqual(t, need, all)
	assert.Check(t, len(each.Actions) > len(desired), "the case has prunes:\n%s", each)
}
