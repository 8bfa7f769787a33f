package executor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// fleetServers starts n sshd on 127.0.0.2, 127.0.0.3, ... and returns
// them with a known_hosts file covering all.
func fleetServers(t *testing.T, n int) ([]*sshdtest.Server, string) {
	t.Helper()
	var servers []*sshdtest.Server
	var kh strings.Builder
	for i := 0; i < n; i++ {
		s := sshdtest.Start(t, sshdtest.Options{Host: fmt.Sprintf("127.0.0.%d", i+2)})
		servers = append(servers, s)
		for _, k := range s.HostKeys {
			kh.WriteString(sshdtest.KnownHostsLine(s.Addr, k))
		}
	}
	file := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(file, []byte(kh.String()), 0o600)
	return servers, file
}

func TestSSHDFleet(t *testing.T) {
	servers, kh := fleetServers(t, 5)
	cfg := &Config{User: servers[0].User, Auth: []ssh.AuthMethod{ssh.PublicKeys(servers[0].Signer)}, HostKeys: knownHostsT(t, kh)}
	// The subtests share one context: on a loaded machine they take
	// more than ctxT's two minutes together.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var hosts []string
	for _, s := range servers {
		hosts = append(hosts, s.Addr)
	}
	// Where each command ran: sshd's side of the connection.
	where := &Pipeline{Name: "where", Steps: []Step{{Args: []string{"sh", "-c", "echo ${SSH_CONNECTION##* } ${SSH_CONNECTION% *}"}, Save: "where"}}}

	t.Run("all", func(t *testing.T) {
		f := &Fleet{Config: cfg}
		res, err := f.Run(ctx, hosts, where)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			host, _, _ := net.SplitHostPort(servers[i].Addr)
			if r.Err != nil || r.Result == nil || !strings.Contains(r.Result.Saved["where"], host) {
				t.Errorf("%s: %+v", r.Host, r)
			}
		}
	})

	t.Run("bad-entries-do-not-affect-others", func(t *testing.T) {
		closed, _ := net.Listen("tcp", "127.0.0.9:0")
		closedAddr := closed.Addr().String()
		closed.Close()
		list := append([]string{}, hosts...)
		list = append(list,
			"nobody-here.invalid", // unknown name
			hosts[1],              // duplicate
			"root@",               // malformed
			"[::1",                // malformed
			closedAddr,            // nothing listening
			"stranger@"+hosts[2],  // refused authentication
		)
		f := &Fleet{Config: cfg, Limit: 3}
		res, err := f.Run(ctx, list, where)
		if err == nil {
			t.Fatal("no error")
		}
		for i := range hosts {
			if res[i].Err != nil {
				t.Errorf("good host %s failed: %v", res[i].Host, res[i].Err)
			}
		}
		var le *HostListError
		if !errors.As(res[6].Err, &le) || !strings.Contains(le.Reason, "duplicate") {
			t.Errorf("duplicate: %v", res[6].Err)
		}
		for _, i := range []int{7, 8} {
			if !errors.As(res[i].Err, &le) {
				t.Errorf("%q: %v", res[i].Host, res[i].Err)
			}
		}
		for _, i := range []int{5, 9, 10} {
			if !IsTransport(res[i].Err) {
				t.Errorf("%q: %v, want a transport error", res[i].Host, res[i].Err)
			}
		}
		t.Logf("joined error:\n%v", err)
		if n := strings.Count(err.Error(), "\n") + 1; n != 6 {
			t.Errorf("joined error has %d lines, want 6", n)
		}
	})

	t.Run("limit", func(t *testing.T) {
		var mu sync.Mutex
		running, peak := 0, 0
		obs := ObserverFunc(func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			switch e.Kind {
			case StepStart:
				running++
				peak = max(peak, running)
			case StepEnd:
				running--
			}
		})
		p := &Pipeline{Observer: obs, Steps: []Step{{Args: []string{"sleep", "0.3"}}}}
		if _, err := (&Fleet{Config: cfg, Limit: 2}).Run(ctx, hosts, p); err != nil {
			t.Fatal(err)
		}
		// On a loaded machine the two may not overlap: only the bound is
		// certain.
		if peak < 1 || peak > 2 {
			t.Errorf("peak concurrency %d, want at most 2", peak)
		}
		t.Logf("Limit 2: peak %d", peak)
		peak = 0
		if _, err := (&Fleet{Config: cfg, LimitPercent: 40}).Run(ctx, hosts, p); err != nil {
			t.Fatal(err)
		}
		if peak < 1 || peak > 2 {
			t.Errorf("40%% of 5: peak concurrency %d, want at most 2", peak)
		}
	})

	t.Run("rolling-batches", func(t *testing.T) {
		f := &Fleet{Config: cfg, BatchSize: 2, BatchWait: 300 * time.Millisecond}
		res, err := f.Run(ctx, hosts, where)
		if err != nil {
			t.Fatal(err)
		}
		// Batches {0,1} {2,3} {4}: each starts after the previous ended
		// plus the wait.
		for _, b := range [][2]int{{1, 2}, {3, 4}} {
			prevEnd := res[b[0]].Start.Add(res[b[0]].Duration)
			if gap := res[b[1]].Start.Sub(prevEnd); gap < 250*time.Millisecond {
				t.Errorf("host %d started %v after host %d ended", b[1], gap, b[0])
			}
		}
	})

	t.Run("fail-fast", func(t *testing.T) {
		failFirst := &Pipeline{Steps: []Step{{Script: "case \"$SSH_CONNECTION\" in *' " + strings.Split(hosts[0], ":")[0] + " '*) exit 3;; esac"}}}
		res, err := (&Fleet{Config: cfg, Limit: 1, FailFast: true}).Run(ctx, hosts, failFirst)
		var ee *ExitError
		if !errors.As(err, &ee) || !errors.Is(err, ErrSkipped) {
			t.Fatalf("got %v", err)
		}
		for _, r := range res[1:] {
			if !errors.Is(r.Err, ErrSkipped) {
				t.Errorf("%s: %v, want skipped", r.Host, r.Err)
			}
		}
		res, _ = (&Fleet{Config: cfg, Limit: 1, MaxFailures: 2}).Run(ctx, append([]string{"bad@", "x@"}, hosts...), where)
		// Parse errors do not count as run failures; the hosts all run.
		for _, r := range res[2:] {
			if r.Err != nil {
				t.Errorf("%s: %v", r.Host, r.Err)
			}
		}
	})

	t.Run("do", func(t *testing.T) {
		res, err := (&Fleet{Config: cfg}).Do(ctx, hosts, func(ctx context.Context, c *Client) error {
			return c.WriteFile(ctx, filepath.Join(t.TempDir(), "x"), []byte(c.Host()), 0o644)
		})
		if err != nil || len(res) != len(hosts) {
			t.Fatal(err)
		}
	})
}

// TestSSHDFleetHandshakeBound: 15 hosts behind one bastion whose sshd
// has the default MaxStartups 10:30:100, dialled without retries: the
// bound on handshakes per first hop keeps every one of them; unbounded,
// the bastion drops some. (The 15 "hosts" are one sshd listening on 15
// addresses, sshd's limit being 16, with a MaxStartups of its own that
// is not the point here.)
func TestSSHDFleetHandshakeBound(t *testing.T) {
	bastion := sshdtest.Start(t, sshdtest.Options{})
	var extra []string
	for i := 2; i <= 15; i++ {
		extra = append(extra, fmt.Sprintf("ListenAddress 127.0.3.%d", i))
	}
	s := sshdtest.Start(t, sshdtest.Options{Host: "127.0.3.1", Config: append(extra, "MaxStartups 100")})
	_, port, _ := net.SplitHostPort(s.Addr)
	var hosts []string
	for i := 1; i <= 15; i++ {
		hosts = append(hosts, fmt.Sprintf("127.0.3.%d:%s", i, port))
	}
	cfg := &Config{
		User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: FixedHostKey(s.HostKeys[0]), DialRetries: -1,
		Jump: []Hop{{Addr: bastion.Addr}},
	}
	p := &Pipeline{Steps: []Step{{Args: []string{"true"}}}}
	for round := 0; round < 3; round++ {
		if _, err := (&Fleet{Config: cfg, Limit: 15, MaxHandshakes: 5}).Run(ctxT(t), hosts, p); err != nil {
			t.Fatalf("with MaxHandshakes 5, below the bastion's MaxStartups: %v", err)
		}
	}
	// The control: unbounded handshakes, no retries.
	_, err := (&Fleet{Config: cfg, Limit: 15, MaxHandshakes: 15}).Run(ctxT(t), hosts, p)
	t.Logf("control, 15 handshakes at once against MaxStartups 10:30:100: %v", err)
	// The default bound, with the default retries.
	cfg.DialRetries = 0
	if _, err := (&Fleet{Config: cfg, Limit: 15}).Run(ctxT(t), hosts, p); err != nil {
		t.Fatalf("default bound and retries: %v", err)
	}
}
