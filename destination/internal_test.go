package destination

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/translate"
)

func TestParseLock(t *testing.T) {
	owner, since, now := parseLock("held\nowner id=1 host=h pid=7 user=u time=x\nsince 100\nnow 160\n")
	if owner != "id=1 host=h pid=7 user=u time=x" || since.Unix() != 100 || now.Unix() != 160 {
		t.Errorf("parseLock = %q %v %v", owner, since.Unix(), now.Unix())
	}
}

func TestStale(t *testing.T) {
	host, _ := os.Hostname()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	r := &deployment{opts: &Options{StaleLock: time.Minute}, owner: newOwner()}
	// another deploy of this process, running now
	other := &deployment{owner: newOwner()}
	active.Store(other.owner.id, true)
	defer active.Delete(other.owner.id)
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		owner string
		age   time.Duration
		stale bool
	}{
		{"host=elsewhere pid=1", 30 * time.Second, false},
		{"host=elsewhere pid=1", 2 * time.Minute, true},
		{"id=" + other.owner.id + " host=" + host + " pid=" + itoa(os.Getpid()), 0, false},
		{"id=0badc0ffee00 host=" + host + " pid=" + itoa(os.Getpid()), 0, true},
		{"host=" + host + " pid=" + itoa(dead), 0, true},
		{"", 0, false},
	} {
		if got := r.stale(tc.owner, t0, t0.Add(tc.age)) != ""; got != tc.stale {
			t.Errorf("stale(%q, age %s) = %v, want %v", tc.owner, tc.age, got, tc.stale)
		}
	}
	never := &deployment{opts: &Options{StaleLock: -1}, owner: newOwner()}
	if why := never.stale("host=elsewhere pid=1", t0, t0.Add(1000*time.Hour)); why != "" {
		t.Errorf("StaleLock < 0 broke a lock: %s", why)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPreviousOf(t *testing.T) {
	h := []Record{
		{Release: 1, Version: "a", Outcome: OutcomeSucceeded},
		{Release: 2, Version: "b", Outcome: OutcomeSucceeded},
		{Release: 3, Version: "c", Outcome: OutcomeRolledBack},
		{Release: 4, Version: "b", Outcome: OutcomeSucceeded},
	}
	if l := live(h); l == nil || l.Release != 4 {
		t.Errorf("live = %v, want 4", l)
	}
	if p, err := previousOf(h); p == nil || p.Release != 1 {
		t.Errorf("previousOf = %v, %v, want 1 (2 has the live version)", p, err)
	}
	if p, err := previousOf(h[:1]); p != nil || !errors.Is(err, ErrNoPrevious) {
		t.Errorf("previousOf one release = %v, %v, want ErrNoPrevious", p, err)
	}
	if p, err := releaseNumber(2)(h); p == nil || p.Release != 2 {
		t.Errorf("releaseNumber(2) = %v, %v", p, err)
	}
	for _, n := range []int{3, 9} {
		if p, err := releaseNumber(n)(h); p != nil || !errors.Is(err, ErrNoRelease) {
			t.Errorf("releaseNumber(%d) = %v, %v, want ErrNoRelease", n, p, err)
		}
	}
	removed := append(h[:4:4], Record{Release: 5, Action: "remove", Outcome: OutcomeSucceeded})
	if l := live(removed); l != nil {
		t.Errorf("live after a removal = %v, want nil", l)
	}
}

func TestCheckFiles(t *testing.T) {
	for _, p := range []string{"", "/etc/passwd", "../x", "a/../../x", ".ferry/lock", "a//b"} {
		if err := checkFiles([]translate.File{{Path: p}}); err == nil {
			t.Errorf("checkFiles(%q) = nil", p)
		}
	}
	if err := checkFiles([]translate.File{{Path: "compose.yaml"}, {Path: "secrets/db"}}); err != nil {
		t.Error(err)
	}
}

func TestErrorMessage(t *testing.T) {
	xe := &executor.ExitError{Host: "h:22", Step: "compose up", Code: 1, Stderr: []byte("first\nlast line\n")}
	e := &Error{Host: "h:22", App: "web", Phase: "apply", Step: "compose up", Err: xe, Outcome: OutcomeRolledBack}
	want := `destination: h:22: deploy of "web" failed at apply step "compose up": exit status 1: last line; rolled back to the previous release`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	e.Outcome, e.Action, e.Diagnostics = OutcomeRemoved, "rollback", "web-1: exited 1\nlog: boom\n"
	want = `destination: h:22: rollback of "web" failed at apply step "compose up": exit status 1: last line; there was no previous release: the new one was removed
diagnostics:
  web-1: exited 1
  log: boom`
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	te := &Error{Host: "h:22", App: "web", Phase: "verify", Step: "s", Outcome: OutcomeUnknown,
		Err: &executor.TransportError{Host: "h:22", Op: "connection", Started: true, Err: errors.New("EOF")}}
	if got := te.Error(); !strings.Contains(got, `step "s": connection: EOF; not rolled back`) {
		t.Errorf("transport error: %s", got)
	}
	if !errors.As(e, &xe) {
		t.Error("Error does not unwrap to the ExitError")
	}
}

func TestPlanInvalidApp(t *testing.T) {
	for _, target := range []Target{Docker{}, Swarm{}, Kubernetes{}} {
		_, err := target.Plan(&translate.App{Name: "Bad_Name"})
		var ve *translate.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%T: err = %v, want *translate.ValidationError", target, err)
		}
	}
}

func TestPlanStackInvalid(t *testing.T) {
	cyclic := &translate.Stack{Name: "s", Services: []*translate.App{
		{Name: "a", Image: "x", DependsOn: []translate.Dependency{{Service: "b"}}},
		{Name: "b", Image: "x", DependsOn: []translate.Dependency{{Service: "a"}}},
	}}
	for _, target := range []Target{Docker{}, Swarm{}, Kubernetes{}} {
		_, err := target.PlanStack(cyclic)
		var ve *translate.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), "a -> b -> a") {
			t.Errorf("%T: err = %v, want a *translate.ValidationError naming the cycle", target, err)
		}
		if _, err := target.PlanStack(nil); !errors.As(err, &ve) {
			t.Errorf("%T: nil stack: err = %v, want a *translate.ValidationError", target, err)
		}
		if _, err := target.Plan(nil); err == nil {
			t.Errorf("%T: nil app: no error", target)
		}
	}
}

// A stack of one plans exactly as its app does.
func TestPlanStackOfOne(t *testing.T) {
	for _, target := range []Target{Docker{}, Swarm{}, Kubernetes{}} {
		a, err := target.Plan(sampleApp())
		if err != nil {
			t.Fatal(err)
		}
		s, err := target.PlanStack(translate.StackOf(sampleApp()))
		if err != nil {
			t.Fatal(err)
		}
		if a.String() != s.String() || a.Version != s.Version {
			t.Errorf("%T: the plan of a stack of one differs from the app's", target)
		}
	}
}

// Swarm adapts a compose project it is given as it is.
func TestSwarmAdaptsCompose(t *testing.T) {
	s := translate.StackOf(sampleApp())
	s.Compose = []byte("name: web\nservices:\n  web:\n    image: ferry-webapp:v1\n    build: .\n    depends_on:\n      db:\n        condition: service_healthy\n  db:\n    image: ferry-webapp:v1\n")
	p, err := Swarm{}.PlanStack(s)
	if err != nil {
		t.Fatal(err)
	}
	got := string(p.Files[0].Data)
	if strings.Contains(got, "depends_on") || strings.Contains(got, "build") || !strings.Contains(got, "db:") {
		t.Errorf("adapted compose:\n%s", got)
	}
	if len(p.Warnings) != 2 || !strings.Contains(p.String(), "service web: build: left out") {
		t.Errorf("warnings %v\n%s", p.Warnings, p)
	}
	d, err := Docker{}.PlanStack(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Files[0].Data) != string(s.Compose) || strings.Contains(fmt.Sprint(d.Warnings), "left out") {
		t.Errorf("Docker changed the compose project:\n%s", d.Files[0].Data)
	}
	s.Compose = []byte("services: [\n")
	if _, err := (Swarm{}).PlanStack(s); err == nil {
		t.Error("Swarm accepted a compose project that is not YAML")
	}
}

// The loader's warnings say what the services could not take from the
// compose files: they concern targets that deploy the translation, not
// Docker deploying Stack.Compose as it is.
func TestWarningsPerTarget(t *testing.T) {
	s := translate.StackOf(sampleApp())
	s.Warnings = []translate.Warning{{File: "compose.yaml", Line: 3, Service: "web", Key: "stop_signal", Message: "not translated to Kubernetes"}}
	count := func(target Target) int {
		p, err := target.PlanStack(s)
		if err != nil {
			t.Fatal(err)
		}
		n := 0 // other warnings (the proxy's, on host ports) are not counted
		for _, w := range p.Warnings {
			if w.Key == "stop_signal" {
				n++
			}
		}
		if n > 0 && !strings.Contains(p.String(), "compose.yaml:3: service web: stop_signal: not translated") {
			t.Errorf("%T: warnings not in the dry run:\n%s", target, p)
		}
		return n
	}
	if n := count(Docker{}); n != 1 {
		t.Errorf("Docker deploying the translation: %d warnings, want 1", n)
	}
	s.Compose = []byte("services:\n  web:\n    image: ferry-webapp:v1\n    stop_signal: SIGINT\n")
	if n := count(Docker{}); n != 0 {
		t.Errorf("Docker deploying Stack.Compose: %d warnings, want 0", n)
	}
	if n := count(Kubernetes{}); n != 1 {
		t.Errorf("Kubernetes: %d warnings, want 1", n)
	}
}
