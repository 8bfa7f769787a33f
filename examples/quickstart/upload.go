package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"

	"github.com/ferryhq/ferry/executor"
)

// runner is the part of [executor.Executor] that runs commands.
type runner interface {
	Command(args ...string) *executor.Cmd
	Run(ctx context.Context, p *executor.Pipeline) (*executor.Result, error)
	Host() string
	Close() error
}

// asExecutor returns c itself when it uploads files; otherwise it adds
// an upload that streams the file on a step's standard input into a
// temporary file renamed into place, so nothing travels on a command
// line.
func asExecutor(c runner) executor.Executor {
	if ex, ok := c.(executor.Executor); ok {
		return ex
	}
	return uploader{c}
}

type uploader struct{ runner }

func (u uploader) WriteFile(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	_, err := u.Run(ctx, &executor.Pipeline{Name: "upload", Steps: []executor.Step{{
		Name:   "write " + path,
		Script: `umask 077; t="$F.tmp.$$"; cat >"$t" && chmod "$M" "$t" && mv -f "$t" "$F"` + "\n",
		Env:    []string{"F=" + path, fmt.Sprintf("M=%o", perm.Perm())},
		Stdin:  bytes.NewReader(data),
		Hidden: true,
	}}})
	return err
}
