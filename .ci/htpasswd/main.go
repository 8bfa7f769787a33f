// Command htpasswd prints one htpasswd line, "USER:BCRYPT-HASH", for the
// user named by its argument and the password read from standard input
// (one line), as the Distribution registry's htpasswd auth wants it. It
// lives under .ci (ignored by ./...) and uses the module's own
// golang.org/x/crypto, so it adds nothing to go.mod.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" {
		fmt.Fprintln(os.Stderr, "usage: htpasswd USER <password")
		os.Exit(2)
	}
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(os.Stderr, "htpasswd: no password on standard input", err)
		os.Exit(2)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
	fmt.Printf("%s:%s\n", os.Args[1], hash)
}
