package destination_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
)

// dialSSHD starts OpenSSH's sshd on loopback and dials it: the "remote
// host" of the end-to-end tests is this machine, reached over real SSH.
func dialSSHD(t *testing.T) executor.Executor {
	t.Helper()
	s := sshdtest.Start(t, sshdtest.Options{})
	cfg := &executor.Config{
		User:     s.User,
		Auth:     []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := executor.Dial(ctx, s.Addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// withEnv adds environment variables to every pipeline an executor runs.
type withEnv struct {
	executor.Executor
	env []string
}

func (w withEnv) Run(ctx context.Context, p *executor.Pipeline) (*executor.Result, error) {
	cp := *p
	cp.Env = append(append([]string(nil), p.Env...), w.env...)
	return w.Executor.Run(ctx, &cp)
}

// recorder collects events.
type recorder struct {
	mu     sync.Mutex
	events []executor.Event
}

func (r *recorder) Event(e executor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) count(kind executor.EventKind, pipeline string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind && (pipeline == "" || e.Pipeline == pipeline) {
			n++
		}
	}
	return n
}

func (r *recorder) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.events {
		if e.Kind == executor.Output {
			b.WriteString(e.Line)
		}
	}
	return b.String()
}

func randomName(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
