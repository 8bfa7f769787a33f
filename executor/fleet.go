package executor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fleet runs the same work on many hosts at once, one connection per
// host, and waits for all of them. Its zero value (with Config set) runs
// on up to 10 hosts at a time with at most 10 handshakes in flight.
//
// A Fleet may be used for several runs, but must not be modified while
// one is in progress.
type Fleet struct {
	// Config dials every host. A user given in a host entry
	// ("user@host") replaces Config.User for that host. Required.
	Config *Config

	// Port is the port of hosts given without one. Zero means 22.
	Port int

	// Limit bounds the hosts worked on at once. LimitPercent, when
	// positive, sets it instead to that percentage of the hosts (at least
	// one). Both zero means 10.
	Limit        int
	LimitPercent int

	// BatchSize, when positive, runs the hosts in rolling batches of that
	// many (BatchPercent: that percentage of the hosts, at least one):
	// a batch starts when the previous one has finished and BatchWait
	// has passed. Zero means a single batch.
	BatchSize    int
	BatchPercent int
	BatchWait    time.Duration

	// MaxHandshakes bounds the SSH handshakes in flight to any one sshd:
	// the first hop of each host's connection, that is the jump host
	// when [Config.Jump] is set (every host's connection then starts
	// with a handshake to the same bastion), or else the host's address.
	// This keeps a fleet within sshd's MaxStartups (10:30:100 by
	// default: beyond 10 unauthenticated connections it drops new ones
	// at random); connecting hosts beyond it wait. sshd notices an
	// authenticated connection a moment after the client does, so keep
	// it below MaxStartups' first number; a dropped handshake is retried
	// as [Config.DialRetries] says. Zero means 10.
	MaxHandshakes int

	// FailFast stops starting hosts after the first failure; hosts
	// already running finish. MaxFailures, when positive, does the same
	// once that many hosts have failed. Hosts not started are reported
	// with [ErrSkipped].
	FailFast    bool
	MaxFailures int
}

// ErrSkipped is the error of a host that a [Fleet] did not start,
// because of FailFast, MaxFailures or a cancelled context.
var ErrSkipped = errors.New("executor: not run: stopped after failures on other hosts")

// HostResult is the outcome on one host of a [Fleet] run.
type HostResult struct {
	// Host is the entry as given; Addr is "host:port" and User the login
	// user (empty when the entry could not be parsed).
	Host string
	Addr string
	User string
	// Result is the pipeline's result for [Fleet.Run], when the pipeline
	// ran; nil otherwise.
	Result *Result
	// Err is nil on success. It is [ErrSkipped] for a host not started, a
	// [*HostListError] for a bad entry, a [*TransportError] when the host
	// could not be reached, or the pipeline's error.
	Err      error
	Start    time.Time
	Duration time.Duration
}

// HostListError reports an unusable entry of a host list: malformed or
// a duplicate. Other hosts are not affected.
type HostListError struct {
	Entry  string
	Reason string
}

// Error describes the failure; see [HostListError] for its fields.
func (e *HostListError) Error() string {
	return fmt.Sprintf("executor: host %q: %s", e.Entry, e.Reason)
}

// ParseHost splits a host entry "[user@]host[:port]" ("[v6addr]:port"
// for IPv6) into user (empty when absent) and "host:port", using port
// when the entry has none (zero means 22).
func ParseHost(entry string, port int) (user, addr string, err error) {
	s := strings.TrimSpace(entry)
	if s == "" {
		return "", "", &HostListError{Entry: entry, Reason: "empty"}
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
		if user == "" || strings.ContainsAny(user, " \t:/@") {
			return "", "", &HostListError{Entry: entry, Reason: "malformed user"}
		}
	}
	if s == "" {
		return "", "", &HostListError{Entry: entry, Reason: "missing host"}
	}
	if strings.Count(s, "[") != strings.Count(s, "]") || strings.Count(s, "[") > 1 {
		return "", "", &HostListError{Entry: entry, Reason: "unbalanced brackets"}
	}
	if port <= 0 || port > 65535 {
		port = 22
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		s = net.JoinHostPort(h, strconv.Itoa(port))
	}
	addr, err = normalizeAddr(s)
	if err != nil {
		return "", "", &HostListError{Entry: entry, Reason: err.Error()}
	}
	return user, addr, nil
}

// ReadHostList reads a host list: one "[user@]host[:port]" per line;
// blank lines and lines starting with # are skipped, and text after
// whitespace is ignored. Entries are not checked here: [Fleet.Run]
// reports a bad or duplicate entry as that host's error, without
// affecting the others.
func ReadHostList(r io.Reader) ([]string, error) {
	var hosts []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hosts = append(hosts, strings.Fields(line)[0])
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("executor: read host list: %w", err)
	}
	return hosts, nil
}

// Run runs p on every host and waits for all. It returns one result per
// host, in the order given, and the errors of the hosts that failed,
// joined (nil when all succeeded). Events of all hosts go to
// p.Observer, one at a time; [Event.Host] tells them apart. Steps with
// Stdin are refused: one reader cannot feed several hosts.
func (f *Fleet) Run(ctx context.Context, hosts []string, p *Pipeline) ([]HostResult, error) {
	for i := range p.Steps {
		if p.Steps[i].Stdin != nil {
			return nil, fmt.Errorf("executor: fleet: step %d has Stdin, which cannot be shared by several hosts", i+1)
		}
	}
	pp := *p
	if p.Observer != nil {
		var mu sync.Mutex
		obs := p.Observer
		pp.Observer = ObserverFunc(func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			obs.Event(e)
		})
	}
	return f.do(ctx, hosts, func(ctx context.Context, c *Client, hr *HostResult) error {
		res, err := c.Run(ctx, &pp)
		hr.Result = res
		return err
	})
}

// Do calls fn with a connected [Client] for every host, with the same
// limits, batches, failure handling and results as [Fleet.Run] (Result
// stays nil). The client is closed when fn returns.
func (f *Fleet) Do(ctx context.Context, hosts []string, fn func(ctx context.Context, c *Client) error) ([]HostResult, error) {
	return f.do(ctx, hosts, func(ctx context.Context, c *Client, _ *HostResult) error { return fn(ctx, c) })
}

// droppedHandshake reports an SSH handshake that the server cut before
// authentication, as sshd does beyond MaxStartups.
func droppedHandshake(err error) bool {
	var te *TransportError
	if !errors.As(err, &te) || te.Op != "handshake" || len(te.Host) == 0 {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func percentOf(pct, n int) int {
	v := (pct*n + 99) / 100
	return max(v, 1)
}

// do runs fn on each host, in batches, a limited number at once.
func (f *Fleet) do(ctx context.Context, hosts []string, fn func(context.Context, *Client, *HostResult) error) ([]HostResult, error) {
	if f.Config == nil {
		return nil, errors.New("executor: fleet: nil Config")
	}
	r := &fleetRun{f: f, ctx: ctx, fn: fn, results: make([]HostResult, len(hosts)), hsByHop: map[string]chan struct{}{}}
	valid := r.parse(hosts)
	limit, batch := f.limits(len(valid))
	r.slots = make(chan struct{}, limit)
	for start := 0; start < len(valid); start += batch {
		if start > 0 && f.BatchWait > 0 && !r.stop() {
			select {
			case <-time.After(f.BatchWait):
			case <-ctx.Done():
			}
		}
		r.runBatch(valid[start:min(start+batch, len(valid))])
	}
	return r.results, r.err()
}

// limits returns the number of hosts run at once and the batch size,
// for n hosts.
func (f *Fleet) limits(n int) (limit, batch int) {
	limit = f.Limit
	if f.LimitPercent > 0 {
		limit = percentOf(f.LimitPercent, n)
	}
	if limit <= 0 {
		limit = 10
	}
	batch = n
	if f.BatchPercent > 0 {
		batch = percentOf(f.BatchPercent, n)
	} else if f.BatchSize > 0 {
		batch = f.BatchSize
	}
	return limit, batch
}

// fleetRun is one call of [Fleet.Run] or [Fleet.Do].
type fleetRun struct {
	f       *Fleet
	ctx     context.Context
	fn      func(context.Context, *Client, *HostResult) error
	results []HostResult
	slots   chan struct{} // one per host running

	hsMu    sync.Mutex
	hsByHop map[string]chan struct{} // handshakes under way, per first hop

	mu       sync.Mutex
	failures int
	stopped  bool
}

// parse fills in the results' Host, User and Addr, or Err for entries
// that are malformed or duplicates, and returns the indexes of the
// others.
func (r *fleetRun) parse(hosts []string) (valid []int) {
	seen := map[string]int{}
	for i, h := range hosts {
		hr := &r.results[i]
		hr.Host = h
		user, addr, err := ParseHost(h, r.f.Port)
		if err != nil {
			hr.Err = err
			continue
		}
		if user == "" {
			user = r.f.Config.User
		}
		hr.User, hr.Addr = user, addr
		key := user + "@" + addr
		if j, dup := seen[key]; dup {
			hr.Err = &HostListError{Entry: h, Reason: fmt.Sprintf("duplicate of entry %d (%s)", j+1, hosts[j])}
			continue
		}
		seen[key] = i
		valid = append(valid, i)
	}
	return valid
}

// handshakesFor returns the semaphore of the handshakes through addr's
// first hop (the first jump host, or addr itself).
func (r *fleetRun) handshakesFor(addr string) chan struct{} {
	hop := addr
	if len(r.f.Config.Jump) > 0 {
		if a, err := normalizeAddr(r.f.Config.Jump[0].Addr); err == nil {
			hop = a
		}
	}
	r.hsMu.Lock()
	defer r.hsMu.Unlock()
	ch, ok := r.hsByHop[hop]
	if !ok {
		n := r.f.MaxHandshakes
		if n <= 0 {
			n = 10
		}
		ch = make(chan struct{}, n)
		r.hsByHop[hop] = ch
	}
	return ch
}

// stop reports whether no more hosts should start.
func (r *fleetRun) stop() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped || r.ctx.Err() != nil
}

// fail counts a failed host, and stops the run under FailFast or
// MaxFailures.
func (r *fleetRun) fail() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures++
	if r.f.FailFast || (r.f.MaxFailures > 0 && r.failures >= r.f.MaxFailures) {
		r.stopped = true
	}
}

// runBatch runs the hosts of one batch, at most cap(r.slots) at once,
// and waits for them.
func (r *fleetRun) runBatch(batch []int) {
	var wg sync.WaitGroup
	for _, i := range batch {
		acquired := false
		select {
		case r.slots <- struct{}{}:
			acquired = true
		case <-r.ctx.Done():
		}
		if r.stop() {
			if r.ctx.Err() == nil {
				r.results[i].Err = ErrSkipped
			} else {
				r.results[i].Err = fmt.Errorf("%w: %w", ErrSkipped, r.ctx.Err())
			}
			if acquired {
				<-r.slots
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-r.slots; wg.Done() }()
			r.runHost(&r.results[i])
		}()
	}
	wg.Wait()
}

// runHost dials one host and runs the function on it.
func (r *fleetRun) runHost(hr *HostResult) {
	hr.Start = time.Now()
	defer func() { hr.Duration = time.Since(hr.Start) }()
	c, err := r.dial(hr)
	if err != nil {
		hr.Err = err
		r.fail()
		return
	}
	defer c.Close()
	if err := r.fn(r.ctx, c, hr); err != nil {
		hr.Err = err
		r.fail()
	}
}

// dial connects to hr's host, taking a turn among the handshakes
// through its first hop, and again after a random pause when sshd
// dropped the handshake (beyond its MaxStartups, sshd closes or resets
// the connection before authentication).
func (r *fleetRun) dial(hr *HostResult) (*Client, error) {
	ctx := r.ctx
	cfg := *r.f.Config
	cfg.User = hr.User
	if cfg.SpareSessions == 0 {
		// One pipeline or function per host: a spare session would
		// only add work on every host.
		cfg.SpareSessions = -1
	}
	handshakes := r.handshakesFor(hr.Addr)
	select {
	case handshakes <- struct{}{}:
	case <-ctx.Done():
		return nil, &TransportError{Host: hr.Addr, Op: "dial", Err: ctx.Err()}
	}
	c, err := Dial(ctx, hr.Addr, &cfg)
	<-handshakes
	for attempt := 0; err != nil && attempt < cfg.dialRetries() && droppedHandshake(err) && ctx.Err() == nil; attempt++ {
		select {
		case <-time.After(time.Duration(50+mrand.IntN(200<<attempt)) * time.Millisecond):
		case <-ctx.Done():
		}
		select {
		case handshakes <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		c, err = Dial(ctx, hr.Addr, &cfg)
		<-handshakes
	}
	return c, err
}

// err sums up the run: the hosts' errors, and how many were skipped.
func (r *fleetRun) err() error {
	var errs []error
	skipped := 0
	for i := range r.results {
		switch err := r.results[i].Err; {
		case err == nil:
		case errors.Is(err, ErrSkipped):
			skipped++
		default:
			errs = append(errs, err)
		}
	}
	if skipped > 0 {
		errs = append(errs, fmt.Errorf("%w (%d hosts)", ErrSkipped, skipped))
	}
	return errors.Join(errs...)
}
