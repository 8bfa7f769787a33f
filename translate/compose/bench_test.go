package compose_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// BenchmarkCorpus loads and translates to Kubernetes every project of
// the corpus, and runs `docker compose config` on the same files in the
// same run: the peer that loads them the same way (kompose cannot be
// fetched here). It reports the time of one corpus pass for each and
// their ratio, ferry over Compose.
func BenchmarkCorpus(b *testing.B) {
	tool := strings.Fields(testenv.Compose(b))
	if len(tool) != 2 {
		b.Skip("needs Compose v2")
	}
	cases := corpusCases(b)
	var ferry, peer time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		for _, c := range cases {
			if s, err := c.load(false); err == nil {
				if _, err := translate.StackObjects(s); err != nil {
					b.Fatalf("%s: %v", c.name, err)
				}
			}
		}
		ferry += time.Since(start)
		start = time.Now()
		for _, c := range cases {
			args := append([]string(nil), tool[1:]...)
			for _, f := range c.files {
				args = append(args, "-f", f)
			}
			cmd := exec.Command(tool[0], append(args, "config", "-q")...)
			cmd.Env = append(append(os.Environ(), "COMPOSE_PROFILES="), c.env...)
			_ = cmd.Run() // the invalid and unnamed cases fail, as they do for ferry
		}
		peer += time.Since(start)
	}
	b.ReportMetric(float64(ferry.Microseconds())/float64(b.N)/1000, "ms-ferry/corpus")
	b.ReportMetric(float64(peer.Microseconds())/float64(b.N)/1000, "ms-compose-config/corpus")
	b.ReportMetric(float64(ferry)/float64(peer), "ferry/compose")
}
