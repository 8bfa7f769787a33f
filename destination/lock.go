package destination

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// owner describes this deploy for the lock and the history.
type owner struct {
	// id is this deploy's token, unique to it.
	id string
	// by is user@machine, for the history.
	by string
	// line is what the lock's owner file holds.
	line string
}

func newOwner() owner {
	host, _ := os.Hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	var b [6]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return owner{id: id, by: name + "@" + host,
		line: fmt.Sprintf("id=%s host=%s pid=%d user=%s time=%s", id, host, os.Getpid(), name, time.Now().UTC().Format(time.RFC3339))}
}

// active holds the tokens of this process's deploys that may hold a
// lock: from before they take it until they have tried to release it.
// A lock of this process whose token is not here was left by a deploy
// that could not release it (its connection was lost) and is stale.
var active sync.Map

// lock takes the app's lock, waiting and breaking stale locks as the
// options say, and returns the history read under it. After an error,
// it releases the lock if this deploy took it after all (the connection
// may have been lost after the host took it), dialling again if the
// executor can.
func (d *deployment) lock(ctx context.Context) ([]Record, error) {
	active.Store(d.owner.id, true)
	hist, err := d.takeLock(ctx)
	var le *LockedError
	if err != nil && !errors.As(err, &le) {
		d.unlock(ctx)
	} else if err != nil {
		active.Delete(d.owner.id)
	}
	return hist, err
}

func (d *deployment) takeLock(ctx context.Context) ([]Record, error) {
	for {
		p := &executor.Pipeline{Name: "lock", Env: []string{"FERRY_DIR=" + d.plan.Dir}, Steps: d.lockSteps()}
		res, err := d.exec(ctx, p)
		if again, err := d.lockHeld(ctx, res, err); again {
			continue
		} else if err != nil {
			d.steps(p, res, err)
			return nil, err
		}
		d.steps(p, res, nil)
		return parseHistory(string(res.Steps[1].Stdout))
	}
}

// lockSteps take the lock and read the history; they stop their
// pipeline when the lock is held.
func (d *deployment) lockSteps() []executor.Step {
	return []executor.Step{
		{Name: "take lock", Script: lockScript, Env: []string{"FERRY_OWNER=" + d.owner.line}},
		{Name: "read history", Script: historyScript, Hidden: true},
	}
}

// lockHeld looks at the result of the lock steps (the first two of res).
// When another deploy holds the lock, it breaks the lock if stale, or
// waits a second if Options.LockWait allows, and says to try again; once
// the wait is over, it returns a [*LockedError]. Otherwise it returns
// err as it is.
func (d *deployment) lockHeld(ctx context.Context, res *executor.Result, err error) (again bool, _ error) {
	if err == nil || res == nil || len(res.Steps) == 0 || res.Steps[0].ExitCode != lockHeld {
		return false, err
	}
	if d.lockDeadline.IsZero() {
		d.lockDeadline = time.Now().Add(d.opts.LockWait)
	}
	holder, since, now := parseLock(string(res.Steps[0].Stdout))
	if why := d.stale(holder, since, now); why != "" {
		bp := statePipeline("lock", d.plan.Dir, executor.Step{Name: "break stale lock (" + why + ")", Script: breakScript,
			Env: []string{"FERRY_STALE=" + holder}})
		if _, _, err := d.pipeline(ctx, bp); err != nil {
			return false, err
		}
		return true, nil
	}
	if time.Now().After(d.lockDeadline) {
		lockDir := path.Join(d.plan.Dir, stateDir, "lock")
		return false, &LockedError{Host: d.ex.Host(), App: d.plan.App, Lock: lockDir, Owner: holder, Since: since}
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(time.Second):
	}
	return true, nil
}

// parseLock reads the lock script's report on a held lock.
func parseLock(out string) (holder string, since, now time.Time) {
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "owner":
			holder = v
		case "since", "now":
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			t := time.Unix(n, 0)
			if k == "since" {
				since = t
			} else {
				now = t
			}
		}
	}
	return holder, since, now
}

// stale says why a held lock may be broken, or "" when it may not.
func (d *deployment) stale(holder string, since, now time.Time) string {
	if max := d.opts.staleLock(); max > 0 && since.Unix() > 0 && now.Sub(since) > max {
		return fmt.Sprintf("taken %s ago", now.Sub(since).Round(time.Second))
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(holder) {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(fields["pid"])
	if err != nil || fields["host"] != host {
		return ""
	}
	if pid == os.Getpid() {
		if _, running := active.Load(fields["id"]); running && fields["id"] != d.owner.id {
			return ""
		}
		return fmt.Sprintf("left by an earlier deploy of this process, %s", fields["id"])
	}
	if !processAlive(pid) {
		return fmt.Sprintf("its owner, process %d on %s, has exited", pid, host)
	}
	return ""
}

// processAlive reports whether a local process exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscallZero)
	return err == nil || !errors.Is(err, os.ErrProcessDone)
}

// unlock releases the lock if this deploy holds it, whatever happened to
// ctx. The executor dials again if the connection was lost. When it
// cannot, the lock stays on the host, and the next deploy of this
// process breaks it as stale.
func (d *deployment) unlock(ctx context.Context) {
	defer active.Delete(d.owner.id)
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	d.pipeline(uctx, statePipeline("unlock", d.plan.Dir, executor.Step{Name: "release lock", Script: unlockScript,
		Env: []string{"FERRY_OWNER=" + d.owner.line}}))
}
