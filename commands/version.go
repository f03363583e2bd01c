package commands

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"

	"github.com/docker-vault/docker-vault/internal/version"
	"github.com/docker/cli/cli"
	"github.com/docker/cli/cli/command"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

type versionOptions struct {
	format string
}

type versionInfo struct {
	Version   string     `json:"version"`
	Commit    string     `json:"commit"`
	GoVersion string     `json:"goVersion"`
	OS        string     `json:"os"`
	Arch      string     `json:"arch"`
	Docker    dockerInfo `json:"docker"`
}

type dockerInfo struct {
	Context    string `json:"context"`
	Endpoint   string `json:"endpoint"`
	Version    string `json:"version,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Error      string `json:"error,omitempty"`
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
	cmd.Flags().StringVarP(&options.format, "format", "f", "", formatHelp)
	return cmd
}

func runVersion(ctx context.Context, dockerCLI command.Cli, options versionOptions) error {
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
	if err := writeFormatted(dockerCLI.Out(), options.format, info, info.writeText); err != nil {
		return err
	}
	if info.Docker.Error != "" {
		return cli.StatusError{StatusCode: 1, Status: "cannot reach the Docker engine: " + info.Docker.Error}
	}
	return nil
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
