package executor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// TestSessionsQueueAtServerLimit runs more commands at once than sshd's
// MaxSessions allows on one connection: they must queue, not fail.
func TestSessionsQueueAtServerLimit(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Config: []string{"MaxSessions 3"}})
	c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
		User:        s.User,
		Auth:        []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeys:    executor.FixedHostKey(s.HostKeys[0]),
		MaxSessions: 10, // more than the server allows: the server refuses, we queue
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := c.Command("sh", "-c", fmt.Sprintf("echo x >> %s/%d; sleep 0.05; echo %d", dir, i, i)).Output(context.Background())
			if err != nil {
				errs <- err
				return
			}
			if strings.TrimSpace(string(out)) != fmt.Sprint(i) {
				errs <- fmt.Errorf("command %d: got %q", i, out)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Every command ran exactly once.
	for i := 0; i < 40; i++ {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprint(i)))
		if string(b) != "x\n" {
			t.Errorf("command %d ran %d times", i, strings.Count(string(b), "x"))
		}
	}
}

// proxy forwards TCP to a target and can cut or freeze every link.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	frozen atomic.Bool
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go p.pipe(c, u)
			go p.pipe(u, c)
		}
	}()
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(10 * time.Millisecond) // a dead peer: nothing moves
		}
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// cut closes every link.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func proxiedClient(t *testing.T, cfg func(*executor.Config)) (*executor.Client, *proxy, *sshdtest.Server) {
	s := sshdtest.Start(t, sshdtest.Options{})
	p := newProxy(t, s.Addr)
	// The host key is known under the proxy's address.
	c := &executor.Config{
		User:     s.User,
		Auth:     []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
		HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	}
	if cfg != nil {
		cfg(c)
	}
	cl, err := executor.Dial(context.Background(), p.addr(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, p, s
}

func TestRedialAfterBrokenConnection(t *testing.T) {
	c, p, _ := proxiedClient(t, nil)
	ctx := context.Background()
	if out, err := c.Command("echo", "one").Output(ctx); err != nil || string(out) != "one\n" {
		t.Fatalf("%q %v", out, err)
	}
	p.cut()
	time.Sleep(100 * time.Millisecond)
	if out, err := c.Command("echo", "two").Output(ctx); err != nil || string(out) != "two\n" {
		t.Fatalf("after cut: %q %v", out, err)
	}
}

func TestStartedCommandNotRetried(t *testing.T) {
	c, p, _ := proxiedClient(t, nil)
	f := filepath.Join(t.TempDir(), "ran")
	ctx := context.Background()
	go func() {
		for {
			if b, _ := os.ReadFile(f); len(b) > 0 {
				p.cut()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	res, err := c.Run(ctx, &executor.Pipeline{Steps: []executor.Step{{Script: "echo x >> " + f + "; sleep 5"}}})
	var te *executor.TransportError
	if !errors.As(err, &te) || !te.Started {
		t.Fatalf("err = %v (%#v)", err, err)
	}
	if res.Steps[0].OK() {
		t.Fatal("step reported OK")
	}
	time.Sleep(300 * time.Millisecond)
	if b, _ := os.ReadFile(f); string(b) != "x\n" {
		t.Fatalf("command ran %d times", strings.Count(string(b), "x"))
	}
}

func TestKeepaliveDetectsDeadPeer(t *testing.T) {
	c, p, _ := proxiedClient(t, func(cfg *executor.Config) {
		cfg.KeepAlive = 100 * time.Millisecond
		cfg.KeepAliveMax = 3
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	cmd := c.Command("sh", "-c", "echo up; sleep 30")
	r, w := io.Pipe()
	cmd.Stdout = w
	if err := cmd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, r)
	p.frozen.Store(true) // the peer goes silent while the command runs
	err := cmd.Wait()
	if !executor.IsTransport(err) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("dead peer noticed after %v", d)
	}
	p.frozen.Store(false)
	p.cut()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := c.Command("echo", "back").Output(ctx); err != nil || string(out) != "back\n" {
		t.Fatalf("after redial: %q %v", out, err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// The spare session is started ahead of need: the next command runs in a
// process that was already waiting for it. With SpareSessions < 0 it is
// started on demand.
func TestSpareSession(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	for _, spare := range []int{0, -1} {
		c, err := executor.Dial(context.Background(), s.Addr, &executor.Config{
			User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
			HostKeys: executor.FixedHostKey(s.HostKeys[0]), SpareSessions: spare,
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		// The command execs into the session's first process: its age is
		// the session's.
		out, err := c.Command("sh", "-c", "ps -o etimes= -p $$").Output(context.Background())
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		age := strings.TrimSpace(string(out))
		if spare == 0 && (age == "0" || age == "1") {
			t.Errorf("with a spare session, the command's session is %ss old; want it started ahead", age)
		}
		if spare < 0 && age != "0" && age != "1" {
			t.Errorf("without spares, the command's session is %ss old", age)
		}
	}
}
