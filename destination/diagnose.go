package destination

import (
	"context"
	"strings"
	"time"
)

// diagnose runs the plan's Diagnose pipeline and returns what it printed,
// redacted by the executor. Its failures are not the deploy's: a step
// that cannot gather its part says so in the text.
func (d *deployment) diagnose(ctx context.Context) string {
	if d.plan.Diagnose == nil {
		return ""
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	res, _, _ := d.pipeline(dctx, d.plan.Diagnose)
	var b strings.Builder
	if res != nil {
		for _, s := range res.Steps {
			b.Write(s.Stdout)
			b.Write(s.Stderr)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
