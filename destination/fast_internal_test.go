package destination

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// TestRecordOnHost: the record the fast path's steps append on the host
// (numbered there by numbersScript) is the one Deploy's own numbering
// would write, for histories with removals, failures, a release whose
// strings hold what looks like keys, and none at all.
func TestRecordOnHost(t *testing.T) {
	tricky := `x","outcome":"succeeded","action":"remove`
	for _, tc := range []struct {
		name string
		hist []Record
	}{
		{"none", nil},
		{"one", []Record{{Release: 1, Action: "deploy", Outcome: OutcomeSucceeded}}},
		{"failed last", []Record{{Release: 1, Action: "deploy", Outcome: OutcomeSucceeded}, {Release: 2, Action: "deploy", Outcome: OutcomeRolledBack}}},
		{"removed", []Record{{Release: 4, Action: "deploy", Outcome: OutcomeSucceeded}, {Release: 5, Action: "remove", Outcome: OutcomeSucceeded}}},
		{"failed removal", []Record{{Release: 9, Action: "rollback", Outcome: OutcomeSucceeded}, {Release: 10, Action: "remove", Outcome: OutcomeFailed}}},
		{"tricky", []Record{{Release: 12, Action: "deploy", Version: tricky, Outcome: OutcomeSucceeded}, {Release: 13, Action: "deploy", Version: tricky, Error: tricky, Outcome: OutcomeFailed}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, ".ferry", "lock"), 0o700); err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, r := range tc.hist {
				b, _ := json.Marshal(r)
				lines = append(lines, string(b)+"\n")
			}
			if len(lines) > 0 {
				os.WriteFile(filepath.Join(dir, ".ferry", "history.jsonl"), []byte(strings.Join(lines, "")), 0o600)
			}
			os.WriteFile(filepath.Join(dir, ".ferry", "lock", "owner"), []byte("x\n"), 0o600)
			plan := &Plan{App: "web", Target: "docker", Dir: dir, Version: `v"1<&>`, Image: "img:1"}
			d := newDeployment(&executor.Local{}, plan, nil, "deploy")
			d.rep.Start = time.Now()
			steps := d.recordSteps()
			cmd := exec.Command("/bin/sh", "-ec", steps[1].Script)
			cmd.Env = append(append(os.Environ(), "FERRY_DIR="+dir), steps[1].Env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("append: %v\n%s", err, out)
			}
			data, _ := os.ReadFile(filepath.Join(dir, ".ferry", "history.jsonl"))
			got, err := parseHistory(string(data))
			if err != nil || len(got) != len(tc.hist)+1 {
				t.Fatalf("history after append: %v\n%s", err, data)
			}
			d.number(tc.hist)
			want := d.newRecord(nil, OutcomeSucceeded, nil)
			last := got[len(got)-1]
			if last.Seconds < 0 || last.Seconds > 60 {
				t.Errorf("seconds = %v", last.Seconds)
			}
			last.Seconds, want.Seconds = 0, 0
			if last != want {
				t.Errorf("host wrote\n%+v\nwant\n%+v", last, want)
			}
		})
	}
}
