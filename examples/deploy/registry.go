package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ferryhq/ferry/destination"
	"github.com/ferryhq/ferry/translate"
)

// stdin is where -registry-password-stdin reads the password.
var stdin io.Reader = os.Stdin

func registryFlags(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.registryUser, "registry-user", "", "user `name` for the registry named in the image references (default $FERRY_REGISTRY_USER)")
	fs.BoolVar(&c.registryPasswordStdin, "registry-password-stdin", false, "read that user's registry password from standard input (default $FERRY_REGISTRY_PASSWORD)")
}

// registries returns the credentials the flags or the environment give,
// for every registry the stack's image references name (Docker Hub when
// they name none), or nil when no user is given.
func (c *config) registries() ([]destination.Credentials, error) {
	user := c.registryUser
	if user == "" {
		user = os.Getenv("FERRY_REGISTRY_USER")
	}
	if user == "" {
		if c.registryPasswordStdin {
			return nil, fmt.Errorf("-registry-password-stdin needs -registry-user (or FERRY_REGISTRY_USER)")
		}
		return nil, nil
	}
	var password string
	if c.registryPasswordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading the registry password from standard input: %v", err)
		}
		password = strings.TrimRight(line, "\r\n")
	} else {
		password = os.Getenv("FERRY_REGISTRY_PASSWORD")
	}
	if password == "" {
		return nil, fmt.Errorf("registry user %s has no password: give it on standard input with -registry-password-stdin, or in FERRY_REGISTRY_PASSWORD", user)
	}
	seen := map[string]bool{}
	if c.stack != nil {
		for _, a := range c.stack.Services {
			seen[translate.ImageRegistry(a.Image)] = true
		}
	}
	if len(seen) > 1 {
		delete(seen, "")
	}
	if len(seen) == 0 {
		seen[""] = true
	}
	var out []destination.Credentials
	for reg := range seen {
		out = append(out, destination.Credentials{Registry: reg, User: user, Password: password})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Registry < out[j].Registry })
	return out, nil
}
