//go:build tools

// Package compose only pins the Docker Compose v2 plugin command that
// .ci/tools builds with "go build"; it is never compiled.
package compose

import _ "github.com/docker/compose/v2/cmd"
