package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/executor"
)

// ciLog streams a deploy's events for a CI log: with GitHub Actions
// (github true), each phase is a collapsible group and failures are
// ::error:: annotations; otherwise each line starts with the time since
// the start.
type ciLog struct {
	mu     sync.Mutex
	w      io.Writer
	errw   io.Writer // failures, without GitHub Actions
	github bool
	start  time.Time
	group  string // the open group, "" when none
}

func newLog(w, errw io.Writer, github bool) *ciLog {
	return &ciLog{w: w, errw: errw, github: github, start: time.Now()}
}

// Event implements executor.Observer.
func (l *ciLog) Event(e executor.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e.Kind {
	case executor.StepStart:
		if l.github && e.Pipeline != l.group {
			if l.group != "" {
				fmt.Fprintln(l.w, "::endgroup::")
			}
			fmt.Fprintf(l.w, "::group::%s\n", e.Pipeline)
			l.group = e.Pipeline
		}
		l.printf("==> %s: %s", e.Pipeline, e.Step)
	case executor.Output:
		if line := strings.TrimRight(e.Line, "\r\n"); line != "" {
			l.printf("    %s", line)
		}
	case executor.StepEnd:
		if r := e.Result; r != nil {
			status := "ok"
			if r.Err != nil {
				status = fmt.Sprintf("failed: %v", r.Err)
			}
			l.printf("    %s (%s)", status, r.Duration.Round(time.Millisecond))
		}
	}
}

// printf writes one line, prefixed with the time since the start unless
// for GitHub Actions (which timestamps lines itself).
func (l *ciLog) printf(format string, args ...any) {
	if !l.github {
		fmt.Fprintf(l.w, "[%7.2fs] ", time.Since(l.start).Seconds())
	}
	fmt.Fprintf(l.w, format+"\n", args...)
}

// line writes a line of the command's own.
func (l *ciLog) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.printf("%s", s)
}

// end closes the open group.
func (l *ciLog) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.group != "" {
		fmt.Fprintln(l.w, "::endgroup::")
		l.group = ""
	}
}

// fail reports a failure: an ::error:: annotation on the log for GitHub
// Actions (its message escaped as the workflow command syntax wants), a
// plain line on the error stream otherwise.
func (l *ciLog) fail(msg string) {
	l.end()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.github {
		r := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
		fmt.Fprintf(l.w, "::error::%s\n", r.Replace(msg))
		return
	}
	fmt.Fprintf(l.errw, "[%7.2fs] %s\n", time.Since(l.start).Seconds(), msg)
}
