package destination_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"github.com/ferryhq/ferry/translate"
)

// BenchmarkNoopRedeploy measures a redeploy that changes nothing, dial
// included, over loopback and through Toxiproxy at 50 ms RTT to the same
// sshd in the same run, and reports the difference in round trips
// (extra-RTTs/op: what the 50 ms link added, divided by 50 ms), and for
// Kubernetes the kubectl processes each deploy ran (counted by a wrapper
// first on the PATH of the deploy's commands).
//
//	go test -run '^$' -bench NoopRedeploy -benchtime 5x ./destination/
func BenchmarkNoopRedeploy(b *testing.B) {
	b.Run("docker", func(b *testing.B) {
		testenv.WebappImage(b)
		testenv.Compose(b)
		project := randomName("ferrybench-")
		testenv.RemoveCompose(b, project, false, project)
		target := destination.Docker{Dir: b.TempDir(), Network: project, Project: project, Timeout: time.Minute}
		app := &translate.App{Name: "web", Image: testenv.WebappV1, Ports: []translate.Port{{Container: 8080}},
			Secrets: []translate.Secret{{Name: "token", Value: "bench-secret", Env: "TOKEN"}}}
		plan, err := target.Plan(app)
		if err != nil {
			b.Fatal(err)
		}
		benchRedeploy(b, plan)
	})
	b.Run("kubernetes", func(b *testing.B) {
		kc := testenv.Kubeconfig(b)
		ns := testenv.Namespace(b, kc)
		target := destination.Kubernetes{Dir: b.TempDir(), Kubeconfig: kc, Namespace: ns, Timeout: time.Minute}
		plan, err := target.Plan(kubeApp(testenv.WebappV1))
		if err != nil {
			b.Fatal(err)
		}
		benchRedeploy(b, plan)
	})
}

func benchRedeploy(b *testing.B, plan *destination.Plan) {
	api := testenv.Toxiproxy(b)
	s := sshdtest.Start(b, sshdtest.Options{})
	proxied, name := testenv.NewProxy(b, api, s.Addr)
	testenv.AddLatency(b, api, name, 25)

	// A kubectl that counts its runs, first on the deploy's PATH.
	bin, count := b.TempDir(), filepath.Join(b.TempDir(), "kubectl.count")
	if real, err := exec.LookPath("kubectl"); err == nil {
		os.WriteFile(filepath.Join(bin, "kubectl"), []byte("#!/bin/sh\necho x >>"+count+"\nexec "+real+" \"$@\"\n"), 0o755)
	}
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	deploy := func(addr string) time.Duration {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := executor.Dial(ctx, addr, &executor.Config{User: s.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)},
			HostKeys: executor.FixedHostKey(s.HostKeys[0])})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if rep, err := destination.Deploy(ctx, withEnv{c, env}, plan, nil); err != nil {
			b.Fatalf("deploy: %v\n%s", err, rep)
		}
		return time.Since(start)
	}
	deploy(s.Addr) // the first release; the measured ones change nothing
	// Round trips counted on the wire, whatever the machine's load:
	// how often the server answered after the client had sent.
	counter := newTurnCounter(b, s.Addr)
	deploy(counter.addr)
	turns := counter.turns.Load()
	os.Remove(count)
	b.ResetTimer()
	// The deploy's own work on the host (compose, kubectl) varies by
	// hundreds of milliseconds; the median of paired differences keeps
	// that noise out of the round trips.
	var local, slow, diff []time.Duration
	for range b.N {
		l, s := deploy(s.Addr), deploy(proxied)
		local, slow, diff = append(local, l), append(slow, s), append(diff, s-l)
	}
	b.StopTimer()
	b.ReportMetric(float64(median(local))/float64(time.Millisecond), "loopback-ms/op")
	b.ReportMetric(float64(median(slow))/float64(time.Millisecond), "50msRTT-ms/op")
	b.ReportMetric(float64(median(diff))/float64(50*time.Millisecond), "extra-RTTs/op")
	b.ReportMetric(float64(turns), "turns/op")
	if data, err := os.ReadFile(count); err == nil {
		b.ReportMetric(float64(strings.Count(string(data), "\n"))/float64(2*b.N), "kubectl/op")
	}
}

// turnCounter is a TCP proxy that counts turns: the times data flows
// from the server after data flowed from the client, that is the round
// trips the client waited for (an upper bound: a client message the
// server does not answer, such as a window adjustment, may add one, and
// the spare session the executor starts in the background for a next
// command adds two that nobody waits for).
type turnCounter struct {
	addr  string
	turns atomic.Int64
}

func newTurnCounter(b *testing.B, upstream string) *turnCounter {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	tc := &turnCounter{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			var mu sync.Mutex
			fromServer := true // the server speaks first (its version line)
			pipe := func(dst, src net.Conn, server bool) {
				defer dst.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if n > 0 {
						mu.Lock()
						if server && !fromServer {
							tc.turns.Add(1)
						}
						fromServer = server
						mu.Unlock()
						if _, err := dst.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}
			go pipe(u, c, false)
			go pipe(c, u, true)
		}
	}()
	return tc
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
