package executor_test

// Benchmarks against OpenSSH's own client on the same sshd, in the same
// run. Each reports the ratio to its peer as a metric; none asserts a time.
//
//	go test -run '^$' -bench . -benchtime 20x ./executor/

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"github.com/ferryhq/ferry/internal/testenv"
	"golang.org/x/crypto/ssh"
)

// openssh runs the OpenSSH client against s at addr.
type openssh struct {
	s    *sshdtest.Server
	host string
	port string
	cm   string // ControlPath, when a master runs
}

func newOpenSSH(b *testing.B, s *sshdtest.Server, addr string) *openssh {
	host, port, _ := splitHostPort(addr)
	o := &openssh{s: s, host: host, port: port}
	// The known_hosts names the sshd's own address; pin the key by
	// alias so a proxy in front is accepted.
	kh := filepath.Join(b.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(sshdtest.KnownHostsLine(addr, s.HostKeys[0])), 0o600)
	o.s = &sshdtest.Server{KeyFile: s.KeyFile, KnownHosts: kh, User: benchUser(b)}
	return o
}

// benchUser is the login user of the benchmarks: an account whose login
// shell is /bin/sh, so that neither ferry nor the OpenSSH client pays for
// an interactive shell's start-up files (bash sources ~/.bashrc for
// commands run by sshd), as on a lean server.
func benchUser(b *testing.B) string {
	return sshdtest.AddUser(b, "ferrybench", sshdtest.UserOptions{}).Name
}

func splitHostPort(addr string) (string, string, error) {
	i := bytes.LastIndexByte([]byte(addr), ':')
	return addr[:i], addr[i+1:], nil
}

func (o *openssh) args(extra ...string) []string {
	a := []string{"-F", "/dev/null", "-i", o.s.KeyFile, "-p", o.port,
		"-o", "UserKnownHostsFile=" + o.s.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR"}
	if o.cm != "" {
		a = append(a, "-o", "ControlPath="+o.cm)
	}
	return append(a, extra...)
}

func (o *openssh) startMaster(b *testing.B) {
	o.cm = filepath.Join(b.TempDir(), "cm")
	cmd := exec.Command("ssh", o.args("-o", "ControlMaster=yes", "-o", "ControlPersist=600", "-fN", o.s.User+"@"+o.host)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ssh master: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ssh", o.args("-O", "exit", o.s.User+"@"+o.host)...).Run() })
}

func (o *openssh) run(b *testing.B, stdout io.Writer, argv ...string) {
	cmd := exec.Command("ssh", append(o.args(o.s.User+"@"+o.host, "--"), argv...)...)
	cmd.Stdout = stdout
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("ssh %v: %v: %s", argv, err, errb.String())
	}
}

func dialAddr(b *testing.B, s *sshdtest.Server, addr string) *executor.Client {
	c, err := executor.Dial(context.Background(), addr, &executor.Config{
		User: benchUser(b), Auth: []ssh.AuthMethod{ssh.PublicKeys(s.Signer)}, HostKeys: executor.FixedHostKey(s.HostKeys[0]),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func steps(n int, argv ...string) *executor.Pipeline {
	p := &executor.Pipeline{}
	for i := 0; i < n; i++ {
		p.Steps = append(p.Steps, executor.Step{Args: argv})
	}
	return p
}

// BenchmarkStepLatency: one step on a warm connection, against the
// OpenSSH client reusing a ControlMaster socket (how Coolify runs each
// command) and against a fresh ssh per command.
func BenchmarkStepLatency(b *testing.B) {
	s := sshdtest.Start(b, sshdtest.Options{})
	c := dialAddr(b, s, s.Addr)
	cm := newOpenSSH(b, s, s.Addr)
	cm.startMaster(b)
	fresh := newOpenSSH(b, s, s.Addr)
	ctx := context.Background()
	const n = 20
	var tPipe, tCmd, tCM, tFresh time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Run(ctx, steps(n, "true")); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Command("true").Run(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		cm.run(b, nil, "true")
		t3 := time.Now()
		fresh.run(b, nil, "true")
		t4 := time.Now()
		tPipe += t1.Sub(t0) / n
		tCmd += t2.Sub(t1)
		tCM += t3.Sub(t2)
		tFresh += t4.Sub(t3)
	}
	N := time.Duration(b.N)
	b.ReportMetric(float64((tPipe / N).Microseconds()), "µs/step-ferry-pipeline")
	b.ReportMetric(float64((tCmd / N).Microseconds()), "µs/step-ferry-cmd")
	b.ReportMetric(float64((tCM / N).Microseconds()), "µs/step-openssh-controlmaster")
	b.ReportMetric(float64((tFresh / N).Microseconds()), "µs/step-openssh-fresh")
	b.ReportMetric(float64(tCM)/float64(tPipe), "x-faster-pipeline-vs-controlmaster")
	b.ReportMetric(float64(tCM)/float64(tCmd), "x-faster-cmd-vs-controlmaster")
	b.ReportMetric(float64(tFresh)/float64(tPipe), "x-faster-pipeline-vs-fresh")
}

// BenchmarkPipelineRTT50: a 20-step pipeline through a link with 50 ms
// round-trip time (Toxiproxy latency in front of sshd), against one
// session per step and against OpenSSH with a ControlMaster.
func BenchmarkPipelineRTT50(b *testing.B) {
	s := sshdtest.Start(b, sshdtest.Options{})
	api := testenv.Toxiproxy(b)
	addr, name := testenv.NewProxy(b, api, s.Addr)
	const rttMs = 50
	testenv.AddLatency(b, api, name, rttMs/2)
	c := dialAddr(b, s, addr)
	cm := newOpenSSH(b, s, addr)
	cm.startMaster(b)
	ctx := context.Background()
	const n = 20
	var tPipe, tSess, tCM time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Run(ctx, steps(n, "true")); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		for j := 0; j < n; j++ {
			if err := c.Command("true").Run(ctx); err != nil {
				b.Fatal(err)
			}
		}
		t2 := time.Now()
		for j := 0; j < n; j++ {
			cm.run(b, nil, "true")
		}
		t3 := time.Now()
		tPipe += t1.Sub(t0)
		tSess += t2.Sub(t1)
		tCM += t3.Sub(t2)
	}
	N := time.Duration(b.N)
	rtt := float64(rttMs * time.Millisecond)
	b.ReportMetric(float64((tPipe / N).Milliseconds()), "ms-ferry-pipeline")
	b.ReportMetric(float64(tPipe/N)/rtt, "RTTs-ferry-pipeline")
	b.ReportMetric(float64(tSess/N)/rtt, "RTTs-session-per-step")
	b.ReportMetric(float64(tCM/N)/rtt, "RTTs-openssh-controlmaster")
	b.ReportMetric(float64(tCM)/float64(tPipe), "x-faster-vs-controlmaster")
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkStream1GiB: 1 GiB of output from the host, through a Cmd and
// through a pipeline step (line splitting, capture), against `ssh host
// cat`. Run it alone for a meaningful peak RSS:
//
//	go test -run '^$' -bench Stream1GiB -benchtime 1x ./executor/
func BenchmarkStream1GiB(b *testing.B) {
	s := sshdtest.Start(b, sshdtest.Options{})
	c := dialAddr(b, s, s.Addr)
	o := newOpenSSH(b, s, s.Addr)
	const size = 1 << 30
	dir, err := os.MkdirTemp("", "ferry-stream-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // readable by the benchmark user
	f := filepath.Join(dir, "data")
	// Text lines, so the pipeline's line splitter has real work.
	line := bytes.Repeat([]byte("0123456789abcdef"), 8)
	line[len(line)-1] = '\n'
	fh, err := os.Create(f)
	if err != nil {
		b.Fatal(err)
	}
	chunk := bytes.Repeat(line, (1<<20)/len(line))
	for w := 0; w < size; w += len(chunk) {
		fh.Write(chunk)
	}
	fh.Close()
	st, _ := os.Stat(f)
	ctx := context.Background()
	var tCmd, tPipe, tSSH time.Duration
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var cnt counter
		t0 := time.Now()
		cmd := c.Command("cat", f)
		cmd.Stdout = &cnt
		if err := cmd.Run(ctx); err != nil || cnt.n != st.Size() {
			b.Fatalf("cmd: %v, %d bytes", err, cnt.n)
		}
		t1 := time.Now()
		var lines int64
		p := &executor.Pipeline{
			Observer: executor.ObserverFunc(func(e executor.Event) {
				if e.Kind == executor.Output {
					lines += int64(len(e.Line))
				}
			}),
			Steps: []executor.Step{{Args: []string{"cat", f}}},
		}
		if _, err := c.Run(ctx, p); err != nil || lines != st.Size() {
			b.Fatalf("pipeline: %v, %d bytes", err, lines)
		}
		t2 := time.Now()
		var sc counter
		o.run(b, &sc, "cat", f)
		t3 := time.Now()
		if sc.n != st.Size() {
			b.Fatalf("ssh: %d bytes", sc.n)
		}
		tCmd += t1.Sub(t0)
		tPipe += t2.Sub(t1)
		tSSH += t3.Sub(t2)
	}
	mib := float64(st.Size()) * float64(b.N) / (1 << 20)
	b.ReportMetric(mib/tCmd.Seconds(), "MiB/s-ferry-cmd")
	b.ReportMetric(mib/tPipe.Seconds(), "MiB/s-ferry-pipeline")
	b.ReportMetric(mib/tSSH.Seconds(), "MiB/s-openssh-cat")
	b.ReportMetric(float64(tSSH)/float64(tCmd), "x-throughput-cmd-vs-ssh")
	b.ReportMetric(float64(tSSH)/float64(tPipe), "x-throughput-pipeline-vs-ssh")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "MiB-peak-RSS")
}
