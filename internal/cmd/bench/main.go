// Command bench measures ferry's fleet and file transfer against the
// OpenSSH tools on the same machine and the same sshd processes, and
// prints ratios. It needs root (sshd on 127.0.1.x), openssh-client and
// pssh. Figures depend on the machine; only the ratios against the peers
// measured in the same run mean anything.
//
//	go run ./internal/cmd/bench [-hosts 100] [-size 1024] [-files 200] [-runs 3]
//
// Peak RSS is that of the tool's whole process tree (ferry is one
// process; xargs -P runs one ssh per host), sampled every 10ms.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ferryhq/ferry/executor"
	"github.com/ferryhq/ferry/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

const port = 2222

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		child(os.Args[2:])
		return
	}
	nHosts := flag.Int("hosts", 100, "sshd processes for the fleet benchmark (0 skips it)")
	sizeMiB := flag.Int("size", 1024, "MiB uploaded in the large-file benchmark (0 skips it)")
	nFiles := flag.Int("files", 200, "small files in the directory benchmark (0 skips it)")
	runs := flag.Int("runs", 3, "runs of each tool; the median is kept")
	par := flag.Int("par", 100, "hosts at once, for every tool")
	flag.StringVar(&fleetUser, "user", "ferrybench", "login user of the fleet benchmark, made if missing, with /bin/sh as its shell so that no tool pays for bash start-up files; empty means the current user")
	flag.Parse()
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "ferry-bench-")
	must(err)
	atExit(func() { os.RemoveAll(work) })
	defer cleanup()
	self, err := os.Executable()
	must(err)

	if *nHosts > 0 {
		fleetBench(work, self, *nHosts, *par, *runs)
	}
	if *sizeMiB > 0 || *nFiles > 0 {
		filesBench(work, self, *sizeMiB, *nFiles, *runs)
	}
}

var (
	exitMu    sync.Mutex
	exitFuncs []func()
)

// atExit registers f to run at cleanup: on return, on a fatal error, or
// on SIGINT, SIGTERM or SIGPIPE (so that no sshd is left behind).
func atExit(f func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitFuncs = append(exitFuncs, f)
}

func cleanup() {
	exitMu.Lock()
	fs := exitFuncs
	exitFuncs = nil
	exitMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func init() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGPIPE)
	go func() {
		<-ch
		cleanup()
		os.Exit(1)
	}()
}

func must(err error) {
	if err != nil {
		cleanup()
		log.Fatal(err)
	}
}

type measure struct {
	d   time.Duration
	rss int64         // KiB
	cpu time.Duration // user+system, the process and its reaped children
}

// run runs argv, returning the wall time and the peak RSS of its process
// tree. It fails on a non-zero exit.
func run(name string, argv []string, stdin io.Reader) measure {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = stdin
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	must(cmd.Start())
	done := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if r := treeRSS(cmd.Process.Pid); r > peak {
				peak = r
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(start)
	close(done)
	wg.Wait()
	if err != nil {
		cleanup()
		log.Fatalf("%s: %v\n%s", name, err, tail(out.String()))
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, "per host:") {
			fmt.Println("    " + l)
		}
	}
	return measure{d, peak, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// treeRSS sums VmRSS (KiB) of pid and its descendants.
func treeRSS(root int) int64 {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[pid] = pp
		}
	}
	in := func(pid int) bool {
		for i := 0; pid > 1 && i < 64; i++ {
			if pid == root {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	var sum int64
	for pid := range parent {
		if !in(pid) {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += n
			}
		}
		f.Close()
	}
	return sum
}

func median(ms []measure) measure {
	slices.SortFunc(ms, func(a, b measure) int { return int(a.d - b.d) })
	m := ms[len(ms)/2]
	for _, x := range ms {
		m.rss = max(m.rss, x.rss)
	}
	return m
}

// serverPIDs are the sshd listeners whose CPU time (theirs and their
// reaped children's) is counted as the server side of each run.
var serverPIDs []int

func serverCPU() time.Duration {
	var ticks int64
	for _, pid := range serverPIDs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

func bench(runs int, name string, argv []string, stdin func() io.Reader) measure {
	var ms []measure
	before := serverCPU()
	for i := 0; i < runs; i++ {
		var in io.Reader
		if stdin != nil {
			in = stdin()
		}
		ms = append(ms, run(name, argv, in))
	}
	srv := (serverCPU() - before) / time.Duration(runs)
	m := median(ms)
	fmt.Printf("  %-28s %8.3fs  peak RSS %6.1f MiB  CPU: client %5.2fs, sshd %5.2fs\n", name, m.d.Seconds(), float64(m.rss)/1024, m.cpu.Seconds(), srv.Seconds())
	return m
}

func ratio(name string, ferry, peer measure) {
	fmt.Printf("  ferry vs %-25s %6.2fx faster, %6.2fx less memory\n", name, peer.d.Seconds()/ferry.d.Seconds(), float64(peer.rss)/float64(max(ferry.rss, 1)))
}

// fleetUser is the login user of the fleet benchmark (-user).
var fleetUser string

func startServers(work string, n int) ([]*sshdtest.Server, string, string) {
	login := fleetUser
	if login != "" {
		_, err := sshdtest.EnsureUser(login, sshdtest.UserOptions{})
		must(err)
	}
	var servers []*sshdtest.Server
	var kh, hosts strings.Builder
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("127.0.1.%d", i+1)
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			log.Fatalf("something already listens on %s:%d (a previous run's sshd?)", host, port)
		}
		dir := filepath.Join(work, "sshd-"+host)
		must(os.MkdirAll(dir, 0o700))
		s, err := sshdtest.New(dir, sshdtest.Options{Host: host, Port: port, Config: []string{"MaxStartups 100", "LogLevel ERROR"}})
		must(err)
		servers = append(servers, s)
		atExit(func() { s.Close() })
		if b, err := os.ReadFile(filepath.Join(dir, "sshd.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			serverPIDs = append(serverPIDs, pid)
		}
		for _, k := range s.HostKeys {
			kh.WriteString(sshdtest.KnownHostsLine(s.Addr, k))
		}
		if login == "" {
			login = s.User
		}
		fmt.Fprintf(&hosts, "%s@%s\n", login, s.Addr)
	}
	khFile := filepath.Join(work, "known_hosts")
	must(os.WriteFile(khFile, []byte(kh.String()), 0o600))
	hostsFile := filepath.Join(work, "hosts")
	must(os.WriteFile(hostsFile, []byte(hosts.String()), 0o600))
	return servers, khFile, hostsFile
}

func sshOpts(key, kh string) []string {
	return []string{"-i", key, "-o", "UserKnownHostsFile=" + kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none"}
}

func fleetBench(work, self string, n, par, runs int) {
	fmt.Printf("One command (uname -n) on %d sshd (127.0.1.1-%d, port %d) as user %q, %d hosts at once, median of %d:\n", n, n, port, fleetUser, par, runs)
	servers, kh, hostsFile := startServers(work, n)
	defer cleanup()
	key := servers[0].KeyFile
	ferry := bench(runs, "ferry Fleet", []string{self, "child", "fleet", key, kh, hostsFile, strconv.Itoa(par)}, nil)

	var plain strings.Builder
	for _, s := range servers {
		login := fleetUser
		if login == "" {
			login = s.User
		}
		fmt.Fprintf(&plain, "%s@%s\n", login, s.Host)
	}
	pf := filepath.Join(work, "hosts-pssh")
	must(os.WriteFile(pf, []byte(plain.String()), 0o600))
	psshArgs := []string{"parallel-ssh", "-h", pf, "-p", strconv.Itoa(par), "-t", "60"}
	for _, o := range append(sshOpts(key, kh), "-p", strconv.Itoa(port)) {
		psshArgs = append(psshArgs, "-x", o)
	}
	pssh := bench(runs, "parallel-ssh (pssh)", append(psshArgs, "uname", "-n"), nil)

	xargsArgs := append([]string{"xargs", "-P", strconv.Itoa(par), "-I{}", "ssh"}, sshOpts(key, kh)...)
	xargsArgs = append(xargsArgs, "-p", strconv.Itoa(port), "-n", "{}", "uname", "-n")
	xa := bench(runs, "xargs -P + ssh", xargsArgs, func() io.Reader { return strings.NewReader(plain.String()) })
	ratio("parallel-ssh", ferry, pssh)
	ratio("xargs -P ssh", ferry, xa)
}

func filesBench(work, self string, sizeMiB, nFiles, runs int) {
	dir := filepath.Join(work, "sshd-files")
	must(os.MkdirAll(dir, 0o700))
	s, err := sshdtest.New(dir, sshdtest.Options{Host: "127.0.0.1", Config: []string{"LogLevel ERROR"}})
	must(err)
	atExit(func() { s.Close() })
	defer cleanup()
	if b, err := os.ReadFile(filepath.Join(dir, "sshd.pid")); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		serverPIDs = []int{pid}
	}
	dst := filepath.Join(work, "dst")
	must(os.MkdirAll(dst, 0o755))
	scp := append([]string{"scp", "-q"}, sshOpts(s.KeyFile, s.KnownHosts)...)
	scp = append(scp, "-P", strconv.Itoa(s.Port))

	if sizeMiB > 0 {
		src := filepath.Join(work, "big")
		f, err := os.Create(src)
		must(err)
		_, err = io.CopyN(f, rand.Reader, int64(sizeMiB)<<20)
		must(err)
		must(f.Close())
		fmt.Printf("Upload of a %d MiB file to sshd on loopback, median of %d:\n", sizeMiB, runs)
		ferry := bench(runs, "ferry Upload", []string{self, "child", "upload", s.KeyFile, s.KnownHosts, s.Addr, src, filepath.Join(dst, "big-ferry")}, nil)
		peer := bench(runs, "scp", append(scp, src, s.User+"@127.0.0.1:"+filepath.Join(dst, "big-scp")), nil)
		mbps := func(m measure) float64 { return float64(sizeMiB) / m.d.Seconds() }
		fmt.Printf("  throughput: ferry %.0f MiB/s, scp %.0f MiB/s\n", mbps(ferry), mbps(peer))
		ratio("scp", ferry, peer)
		os.Remove(src)
		os.Remove(filepath.Join(dst, "big-ferry"))
		os.Remove(filepath.Join(dst, "big-scp"))
	}
	if nFiles > 0 {
		src := filepath.Join(work, "manifests")
		for i := 0; i < nFiles; i++ {
			p := filepath.Join(src, fmt.Sprintf("app%02d", i/20), fmt.Sprintf("m%03d.yaml", i))
			must(os.MkdirAll(filepath.Dir(p), 0o755))
			b := make([]byte, 1024+(i*37)%7000)
			rand.Read(b)
			must(os.WriteFile(p, b, 0o644))
		}
		fmt.Printf("Upload of %d small files (1-8 KiB, 10 directories), median of %d:\n", nFiles, runs)
		ferry := bench(runs, "ferry Upload (directory)", []string{self, "child", "upload", s.KeyFile, s.KnownHosts, s.Addr, src, filepath.Join(dst, "m-ferry")}, nil)
		peer := bench(runs, "scp -r", append(scp, "-r", src, s.User+"@127.0.0.1:"+filepath.Join(dst, "m-scp")), nil)
		ratio("scp -r", ferry, peer)
	}
}

// child runs one ferry operation in its own process, so that its time
// and memory are measured like the peers'.
func child(args []string) {
	key, kh := args[1], args[2]
	m, err := executor.PrivateKeyFile(key, nil)
	must(err)
	hk, err := executor.KnownHosts(kh)
	must(err)
	cfg := &executor.Config{User: "root", Auth: []ssh.AuthMethod{m}, HostKeys: hk}
	ctx := context.Background()
	switch args[0] {
	case "fleet":
		f, err := os.Open(args[3])
		must(err)
		hosts, err := executor.ReadHostList(f)
		must(err)
		limit, _ := strconv.Atoi(args[4])
		res, err := (&executor.Fleet{Config: cfg, Limit: limit}).Run(ctx, hosts, &executor.Pipeline{Steps: []executor.Step{{Args: []string{"uname", "-n"}}}})
		must(err)
		w := bufio.NewWriter(os.Stdout)
		for _, r := range res {
			fmt.Fprintf(w, "%s: %s", r.Addr, r.Result.Steps[0].Stdout)
		}
		w.Flush()
		if os.Getenv("FERRY_BENCH_TIMES") != "" {
			var ds []time.Duration
			first := res[0].Start
			last := res[0].Start
			for _, r := range res {
				ds = append(ds, r.Duration)
				if r.Start.Before(first) {
					first = r.Start
				}
				if r.Start.After(last) {
					last = r.Start
				}
			}
			slices.Sort(ds)
			fmt.Fprintf(os.Stderr, "per host: min %v median %v max %v; starts spread over %v\n", ds[0], ds[len(ds)/2], ds[len(ds)-1], last.Sub(first))
		}
	case "upload":
		c, err := executor.Dial(ctx, args[3], cfg)
		must(err)
		must(c.Upload(ctx, args[4], args[5], nil))
		c.Close()
	}
}
