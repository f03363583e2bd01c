package main

// Temporary: pins the modules the packages under construction import, so
// parallel work does not race on go.mod. Removed once they are imported for real.
import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azcore"
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	_ "github.com/moby/buildkit/frontend/dockerfile/instructions"
	_ "github.com/moby/buildkit/frontend/dockerfile/parser"
	_ "github.com/pmezard/go-difflib/difflib"
	_ "go.yaml.in/yaml/v3"
	_ "go.yaml.in/yaml/v4"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "gotest.tools/v3/assert"
	_ "gotest.tools/v3/fs"
	_ "gotest.tools/v3/golden"
	_ "gotest.tools/v3/icmd"
)
