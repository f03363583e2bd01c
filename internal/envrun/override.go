package envrun

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// Override is the compose file, given after the project's own, that turns
// each external and file secret of secrets into one compose reads from its
// variable:
//
//	secrets:
//	  db_password:
//	    external: !reset null
//	    environment: DOCKER_VAULT_SECRET_DB_PASSWORD
//
// compose-go's !reset drops the source the project gave (`external`,
// `file`); the secret keeps its name, and services keep their references
// (target, mode, uid, gid) as the project sets them: the override adds no
// uid or gid. It holds names only, never a value. Secrets the project
// already reads from a variable need nothing and are not in it; nil when
// no secret needs one.
func Override(secrets []Secret) ([]byte, error) {
	var conv []Secret
	for _, s := range secrets {
		if s.Source != FromEnvironment {
			conv = append(conv, s)
		}
	}
	if len(conv) == 0 {
		return nil, nil
	}
	sort.Slice(conv, func(i, j int) bool { return conv[i].Key < conv[j].Key })
	str := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }
	list := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range conv {
		var drop string
		switch s.Source {
		case FromExternal:
			drop = "external"
		case FromFile:
			drop = "file"
		default:
			return nil, fmt.Errorf("internal error: secret %s has source %q", s.Key, s.Source)
		}
		list.Content = append(list.Content, str(s.Key), &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			str(drop), {Kind: yaml.ScalarNode, Tag: "!reset", Value: "null", Style: yaml.TaggedStyle},
			str("environment"), str(s.Var),
		}})
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Content: []*yaml.Node{str("secrets"), list}}}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UIDGIDUsers are the services whose reference to one of secrets sets a
// uid or gid, as "service (secret)". Compose copies such a secret in with
// the engine's CopyUIDGID, which makes the daemon resolve the service's
// user: Engine 20.10 looks it up in the host's passwd database and refuses
// a numeric user it cannot find (`getent unable to find entry "999:999"`).
// Without uid and gid the secret is copied root-owned, mode 0444 unless
// the reference sets one, and any user can read it.
func UIDGIDUsers(p *types.Project, secrets []Secret) []string {
	filled := map[string]bool{}
	for _, s := range secrets {
		filled[s.Key] = true
	}
	var out []string
	for _, svc := range p.Services {
		for _, ref := range svc.Secrets {
			if filled[ref.Source] && (ref.UID != "" || ref.GID != "") {
				out = append(out, fmt.Sprintf("%s (%s)", svc.Name, ref.Source))
			}
		}
	}
	sort.Strings(out)
	return out
}
