package executor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/internal/shquote"
)

// bootstrap is the whole command line of every session. It reads a byte
// count and then that many bytes of script from standard input and runs
// them; the rest of standard input is left to the command. Nothing from
// the caller is on it, so no argument list is ever too long and no
// secret shows in a process listing.
const bootstrap = `exec /bin/sh -c 'IFS= read -r n||exit 125;s=$(head -c "$n"&&echo .)||{ echo "ferry: cannot read the script (head -c failed)" >&2;exit 125;};eval "${s%.}"'`

// newNonce returns a random token that frames the driver's markers and
// heredocs.
func newNonce() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// frame prefixes script with its length line, as bootstrap reads it.
func frame(script string) []byte {
	return []byte(strconv.Itoa(len(script)) + "\n" + script)
}

// spec is what the driver needs of one command: its step (for a [Cmd],
// a step of the Cmd's fields) with the environment and directory it runs
// with, and what the driver adds.
type spec struct {
	Step
	ReadsStdin bool   // the command reads the session's standard input
	SudoPwd    string // sudo's password, given to it through askpass
}

func (s *spec) check() error {
	if (len(s.Args) == 0) == (s.Script == "") {
		return fmt.Errorf("exactly one of Args and Script must be set")
	}
	if err := shquote.Check(s.Args); err != nil {
		return err
	}
	if strings.IndexByte(s.Script, 0) >= 0 {
		return fmt.Errorf("script contains a NUL byte")
	}
	if err := shquote.CheckEnv(s.Env); err != nil {
		return err
	}
	if strings.IndexByte(s.Dir, 0) >= 0 {
		return fmt.Errorf("dir contains a NUL byte")
	}
	if s.User != "" && s.Script != "" && s.ReadsStdin {
		return fmt.Errorf("a script run as another user (User %q) reads its script from standard input, so it cannot also take Stdin", s.User)
	}
	return nil
}

// body writes the shell text that prepares and then execs the command:
// cd, exports, sudo, and the command itself. It runs in a subshell or as
// the last thing of a script, so exec replaces the shell.
func (s *spec) body(b *strings.Builder, nonce string, id int) {
	// Every process of the step inherits its mark, even those that
	// leave its process group and session (see killScript).
	fmt.Fprintf(b, "export %s\n", stepToken(nonce, id))
	if s.Dir != "" {
		fmt.Fprintf(b, "cd -- %s || exit 1\n", shquote.Quote(s.Dir))
	}
	var keys []string
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(b, "export %s=%s\n", k, shquote.Quote(v))
		keys = append(keys, k)
	}
	var argv []string
	if s.User != "" {
		if s.SudoPwd != "" {
			fmt.Fprintf(b, "export FERRY_SUDO_PASSWORD=%s\n", shquote.Quote(s.SudoPwd))
			// The askpass helper prints the password from the
			// environment: the password is in no file and no argv.
			b.WriteString("a=$(mktemp) || exit 1\n")
			// It answers once: a wrong password fails at once instead
			// of after sudo's three tries.
			b.WriteString(`printf '#!/bin/sh\n[ -e "$0.used" ] && exit 1\n: >"$0.used"\nprintf "%%s\\n" "$FERRY_SUDO_PASSWORD"\n' >"$a" && chmod 700 "$a" || exit 1` + "\n")
			b.WriteString("export SUDO_ASKPASS=\"$a\"\n")
			argv = append(argv, "sudo", "-A")
		} else {
			argv = append(argv, "sudo", "-n")
		}
		argv = append(argv, "-u", s.User)
		argv = append(argv, "--preserve-env="+strings.Join(append(keys, tokenVar), ","))
		argv = append(argv, "--")
	}
	shell := s.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	switch {
	case s.Script != "" && s.User != "":
		// sudo closes descriptors above 2, so the script reaches sudo
		// on stdin. A constant stub, run as the target user, moves it
		// to a here-document of its own (which that user may open as
		// /dev/fd/8) and gives the shell /dev/null as stdin: no
		// command of the script can read the rest of the script, as
		// without User.
		argv = append(argv, "/bin/sh", "-c", sudoScriptStub, shell)
		fmt.Fprintf(b, "%s%s <<'FERRY_%s_%d'\n", execPrefix(s), shquote.Join(argv), nonce, id)
		b.WriteString(withNewline(s.Script) + fmt.Sprintf("FERRY_%s_%d\n", nonce, id))
		return
	case s.Script != "":
		argv = append(argv, shell, "-e", "/dev/fd/9")
		fmt.Fprintf(b, "%s%s 9<<'FERRY_%s_%d'\n", execPrefix(s), shquote.Join(argv), nonce, id)
		b.WriteString(withNewline(s.Script) + fmt.Sprintf("FERRY_%s_%d\n", nonce, id))
		return
	}
	argv = append(argv, s.Args...)
	fmt.Fprintf(b, "%s%s\n", execPrefix(s), shquote.Join(argv))
}

// sudoScriptStub runs a script that arrives on stdin with the shell in $0,
// reading it from a here-document rather than from stdin. It reads the
// script whole first, then becomes the shell, so that the shell is sudo's
// child as without the stub and signals reach it the same way.
const sudoScriptStub = `s=$(cat; echo .) || exit 125
exec "$0" -e /dev/fd/8 </dev/null 8<<FERRY_SCRIPT
${s%.}
FERRY_SCRIPT`

// execPrefix is "exec " unless sudo's askpass file must be removed after.
func execPrefix(s *spec) string {
	if s.User != "" && s.SudoPwd != "" {
		return ""
	}
	return "exec "
}

func withNewline(s string) string {
	if strings.HasSuffix(s, "\n") {
		return s
	}
	return s + "\n"
}

// cmdScript is the script for a lone command: report the process group,
// then become the command, so the session's exit status is the command's.
func cmdScript(s *spec, nonce string, grace time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "printf '\\036FERRY%s:%s:%%s\\036' \"$$\" >&2\n", nonce, markPID)
	b.WriteString(watchdog(nonce, grace, s.User != ""))
	s.body(&b, nonce, 0)
	if s.User != "" && s.SudoPwd != "" {
		b.WriteString("r=$?; rm -f \"$a\" \"$a.used\"; exit $r\n")
	}
	return b.String()
}

// batchScript is the script for steps first..first+len(specs)-1 of a
// pipeline: each runs in a subshell between start and end markers on
// both streams; a failing step ends the script unless it ignores errors.
func batchScript(specs []*spec, ignore []bool, first int, nonce string, grace time.Duration) string {
	var b strings.Builder
	sudo := false
	for _, s := range specs {
		sudo = sudo || s.User != ""
	}
	// m writes its markers in one write per stream (printf reuses its
	// format for every argument), so that a step boundary costs the
	// reader two wake-ups, not four.
	fmt.Fprintf(&b, "m() { printf '\\036FERRY%s:%%s\\036' \"$@\"; printf '\\036FERRY%s:%%s\\036' \"$@\" >&2; }\n", nonce, nonce)
	fmt.Fprintf(&b, "m %s:$$ %s:%d\n", markPID, markStart, first)
	b.WriteString(watchdog(nonce, grace, sudo))
	for i, s := range specs {
		id := first + i
		b.WriteString("(\n")
		s.body(&b, nonce, id)
		if s.User != "" && s.SudoPwd != "" {
			b.WriteString("r=$?; rm -f \"$a\" \"$a.used\"; exit $r\n")
		}
		if s.ReadsStdin {
			b.WriteString(")\n")
		} else {
			b.WriteString(") </dev/null\n")
		}
		b.WriteString("r=$?\n")
		if !ignore[i] {
			// "x" says the script is done: whatever follows on the
			// streams comes from background children of a step.
			fmt.Fprintf(&b, "[ $r -eq 0 ] || { m %s:%d:$r %s:0; exit $r; }\n", markEnd, id, markDone)
		}
		if i < len(specs)-1 {
			fmt.Fprintf(&b, "m %s:%d:$r %s:%d\n", markEnd, id, markStart, id+1)
		} else {
			fmt.Fprintf(&b, "m %s:%d:$r %s:0\nexit 0\n", markEnd, id, markDone)
		}
	}
	return b.String()
}

// tokenVar is the environment variable that marks the processes of a
// run: tokenVar=<nonce>.<step>. (the trailing dot keeps step 1 apart
// from step 12).
const tokenVar = "FERRY_RUN"

// stepToken is the mark of step id's processes.
func stepToken(nonce string, id int) string {
	return tokenVar + "=" + nonce + "." + strconv.Itoa(id) + "."
}

// runToken is the start of the mark of every process of a run.
func runToken(nonce string) string { return tokenVar + "=" + nonce + "." }

// stopTarget names the processes a stop is for.
type stopTarget struct {
	pgid  int    // the run's shell: its process group and session
	token string // stepToken or runToken: the mark of the processes
	// step limits the stop to the marked processes where the host lets
	// them be found (Linux's /proc), so that a stop that arrives late
	// cannot hit the steps after the one it is for.
	step bool
}

// killScript signals the processes of t with sig: on hosts with
// /proc/PID/environ, every process carrying t's mark (this finds those
// that left the process group and session, with setsid say); and, unless
// t is a step found that way, process group t.pgid and every process of
// session t.pgid. With sudo it does the same as root, for processes run
// as other users.
func killScript(t stopTarget, sig string, sudo bool) string {
	return killText(strconv.Itoa(t.pgid), t.pgid > 1, t.token, t.step, sig, sudo) + "; exit 0\n"
}

// killText is killScript's shell text for process group p (shell text:
// a number, or "$$"), used only when group is true.
func killText(p string, group bool, token string, step bool, sig string, sudo bool) string {
	grp := "kill -" + sig + " -- -" + p + " 2>/dev/null; pkill -" + sig + " -s " + p + " 2>/dev/null"
	scan := "for f in $(grep -lF -- " + shquote.Quote(token) + " /proc/[0-9]*/environ 2>/dev/null); do f=${f#/proc/}; kill -" + sig + " \"${f%/environ}\" 2>/dev/null; done"
	var s string
	switch {
	case step && group:
		s = "if [ -r /proc/self/environ ]; then " + scan + "; else " + grp + "; fi"
	case group:
		// The scan first: the group may hold the caller (a watchdog).
		s = "if [ -r /proc/self/environ ]; then " + scan + "; fi; " + grp
	default:
		s = scan
	}
	if sudo {
		s += "; sudo -n /bin/sh -c " + shquote.Quote(s) + " 2>/dev/null"
	}
	return s
}

// watchdog is shell text that starts a watcher of the session in the
// background. The script runs as a child of the process that started it:
// sshd's process for the connection (or this program, for [Local]). When
// that process is gone (the connection was lost, the client killed) while
// the script still runs, the watcher stops the run's processes as a
// cancel would: SIGTERM, then SIGKILL after grace. It checks once a
// second. On hosts without /proc it needs kill -0 to be allowed on the
// parent, which holds for sshd's per-connection process.
func watchdog(nonce string, grace time.Duration, sudo bool) string {
	secs := int((grace + time.Second - 1) / time.Second)
	if grace <= 0 {
		secs = int(defaultGrace / time.Second)
	}
	t := runToken(nonce)
	return "(trap '' TERM INT HUP; " +
		`a() { if [ -d /proc/self ]; then [ -d "/proc/$1" ]; else kill -0 "$1" 2>/dev/null; fi; }; ` +
		"while a $PPID && a $$; do sleep 1; done; a $$ || exit 0; " +
		killText("$$", true, t, false, "TERM", sudo) + "; sleep " + strconv.Itoa(secs) + "; " +
		killText("$$", true, t, false, "KILL", sudo) +
		") </dev/null >/dev/null 2>&1 &\n"
}
