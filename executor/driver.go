package executor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

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

// spec is what the driver needs of one command.
type spec struct {
	Args    []string
	Script  string
	Shell   string
	Env     []string
	Dir     string
	User    string
	Stdin   bool   // the command reads the session's standard input
	SudoPwd string // sudo's password, given to it through askpass
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
	if s.User != "" && s.Script != "" && s.Stdin {
		return fmt.Errorf("a script run as another user (User %q) reads its script from standard input, so it cannot also take Stdin", s.User)
	}
	return nil
}

// body writes the shell text that prepares and then execs the command:
// cd, exports, sudo, and the command itself. It runs in a subshell or as
// the last thing of a script, so exec replaces the shell.
func (s *spec) body(b *strings.Builder, nonce string, id int) {
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
		if len(keys) > 0 {
			argv = append(argv, "--preserve-env="+strings.Join(keys, ","))
		}
		argv = append(argv, "--")
	}
	shell := s.Shell
	if shell == "" {
		shell = "/bin/sh"
	}
	switch {
	case s.Script != "" && s.User != "":
		// sudo closes descriptors above 2: the script goes on stdin.
		argv = append(argv, shell, "-e", "-s")
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
func cmdScript(s *spec, nonce string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "printf '\\036FERRY%s:pid:%%s\\036' \"$$\" >&2\n", nonce)
	s.body(&b, nonce, 0)
	if s.User != "" && s.SudoPwd != "" {
		b.WriteString("r=$?; rm -f \"$a\" \"$a.used\"; exit $r\n")
	}
	return b.String()
}

// batchScript is the script for steps first..first+len(specs)-1 of a
// pipeline: each runs in a subshell between start and end markers on
// both streams; a failing step ends the script unless it ignores errors.
func batchScript(specs []*spec, ignore []bool, first int, nonce string) string {
	var b strings.Builder
	// m writes its markers in one write per stream (printf reuses its
	// format for every argument), so that a step boundary costs the
	// reader two wake-ups, not four.
	fmt.Fprintf(&b, "m() { printf '\\036FERRY%s:%%s\\036' \"$@\"; printf '\\036FERRY%s:%%s\\036' \"$@\" >&2; }\n", nonce, nonce)
	fmt.Fprintf(&b, "m pid:$$ s:%d\n", first)
	for i, s := range specs {
		id := first + i
		b.WriteString("(\n")
		s.body(&b, nonce, id)
		if s.User != "" && s.SudoPwd != "" {
			b.WriteString("r=$?; rm -f \"$a\" \"$a.used\"; exit $r\n")
		}
		if s.Stdin {
			b.WriteString(")\n")
		} else {
			b.WriteString(") </dev/null\n")
		}
		b.WriteString("r=$?\n")
		if !ignore[i] {
			// "x" says the script is done: whatever follows on the
			// streams comes from background children of a step.
			fmt.Fprintf(&b, "[ $r -eq 0 ] || { m e:%d:$r x:0; exit $r; }\n", id)
		}
		if i < len(specs)-1 {
			fmt.Fprintf(&b, "m e:%d:$r s:%d\n", id, id+1)
		} else {
			fmt.Fprintf(&b, "m e:%d:$r x:0\nexit 0\n", id)
		}
	}
	return b.String()
}

// killScript signals process group pgid, and every process of session
// pgid, with sig. With sudo it also signals processes run as other users.
func killScript(pgid int, sig string, sudo bool) string {
	p := strconv.Itoa(pgid)
	s := "kill -" + sig + " -- -" + p + " 2>/dev/null; pkill -" + sig + " -s " + p + " 2>/dev/null"
	if sudo {
		s += "; sudo -n kill -" + sig + " -- -" + p + " 2>/dev/null; sudo -n pkill -" + sig + " -s " + p + " 2>/dev/null"
	}
	return s + "; exit 0\n"
}
