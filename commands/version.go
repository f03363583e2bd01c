package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/docker-vault/docker-vault/internal/version"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/command/formatter"
	flagsHelper "github.com/docker/cli/cli/flags"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type versionOptions struct {
	format string
}

// versionInfo is what version prints. Its fields are the template fields
// and, unrenamed, the JSON keys.
type versionInfo struct {
	Version   string
	Commit    string
	GoVersion string
	OS        string
	Arch      string
	Docker    dockerInfo
}

type dockerInfo struct {
	Context    string
	Endpoint   string
	Version    string `json:",omitempty"`
	APIVersion string `json:",omitempty"`
	Error      string `json:",omitempty"`
}

// versionContext is versionInfo as the formatter's one row.
type versionContext struct {
	formatter.HeaderContext
	versionInfo
}

func (c *versionContext) MarshalJSON() ([]byte, error) { return json.Marshal(c.versionInfo) }

var versionHeader = map[string]any{
	"Version":   "VERSION",
	"Commit":    "COMMIT",
	"GoVersion": "GO VERSION",
	"OS":        "OS",
	"Arch":      "ARCH",
	"Docker": map[string]string{
		"Context":    "CONTEXT",
		"Endpoint":   "ENDPOINT",
		"Version":    "ENGINE VERSION",
		"APIVersion": "API VERSION",
		"Error":      "ERROR",
	},
}

func newVersionCommand(dockerCLI command.Cli) *cobra.Command {
	var options versionOptions
	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the docker vault version and the Docker engine it would use",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.Context(), dockerCLI, options)
		},
	}
	cmd.Flags().StringVarP(&options.format, "format", "f", "", flagsHelper.InspectFormatHelp)
	return cmd
}

func runVersion(ctx context.Context, dockerCLI command.Cli, options versionOptions) error {
	if err := checkFormat(options.format, &versionContext{}); err != nil {
		return err
	}
	info := versionInfo{
		Version:   version.Version,
		Commit:    version.Commit,
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Docker: dockerInfo{
			Context:  dockerCLI.CurrentContext(),
			Endpoint: dockerCLI.DockerEndpoint().Host,
		},
	}
	sv, err := dockerCLI.Client().ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		// Still print what we know: the version of the plugin is useful
		// exactly when the engine cannot be reached.
		info.Docker.Error = err.Error()
	} else {
		info.Docker.Version = sv.Version
		info.Docker.APIVersion = dockerCLI.Client().ClientVersion()
	}
	if err := printVersion(dockerCLI.Out(), options.format, info); err != nil {
		return err
	}
	if info.Docker.Error != "" {
		return cli.StatusError{StatusCode: 1, Status: "cannot reach the Docker engine: " + info.Docker.Error}
	}
	return nil
}

// printVersion prints info as docker version does: its own layout by
// default (also for "table"), else through docker's formatter.
func printVersion(out io.Writer, format string, info versionInfo) error {
	if isDefaultFormat(format) {
		return info.writeText(out)
	}
	return writeRows(out, formatter.Format(strings.TrimSpace(format)), versionHeader, []*versionContext{{versionInfo: info}})
}

func (v versionInfo) writeText(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 0, 1, ' ', 0)
	fmt.Fprintf(w, "docker vault:\n")
	fmt.Fprintf(w, " Version:\t%s\n", v.Version)
	fmt.Fprintf(w, " Git commit:\t%s\n", v.Commit)
	fmt.Fprintf(w, " Go version:\t%s\n", v.GoVersion)
	fmt.Fprintf(w, " OS/Arch:\t%s/%s\n", v.OS, v.Arch)
	fmt.Fprintf(w, "Docker:\n")
	fmt.Fprintf(w, " Context:\t%s\n", v.Docker.Context)
	fmt.Fprintf(w, " Endpoint:\t%s\n", v.Docker.Endpoint)
	if v.Docker.Error != "" {
		fmt.Fprintf(w, " Engine:\tunreachable\n")
	} else {
		fmt.Fprintf(w, " Engine version:\t%s\n", v.Docker.Version)
		fmt.Fprintf(w, " API version:\t%s\n", v.Docker.APIVersion)
	}
	return w.Flush()
}
