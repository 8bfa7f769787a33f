package executor

import "context"

// Command returns a [Cmd] that runs args on the client's host.
func (c *Client) Command(args ...string) *Cmd { return newCmd(c, args) }

// Run runs the pipeline on the client's host and returns a result with
// one entry per step. The error is nil when every step succeeded or
// ignored its failure; otherwise it wraps the failing step's error (an
// [*ExitError], a [*TransportError], or ctx's error). Invalid steps are
// reported before anything runs.
func (c *Client) Run(ctx context.Context, p *Pipeline) (*Result, error) {
	return runPipeline(ctx, c, p)
}

// Both executors implement Executor.
var (
	_ Executor = (*Client)(nil)
	_ Executor = (*Local)(nil)
)
