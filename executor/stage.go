package executor

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// sudoUpload uploads r to a private file in the login user's home, then
// installs it as root next to target and renames it into place.
func (c *Client) sudoUpload(ctx context.Context, op string, r *progressReader, target string, perm fs.FileMode, o *FileOptions) error {
	fail := func(err error) error { return &FileError{Host: c.addr, Op: op, Path: target, Err: err} }
	home, err := c.sftpHome(ctx)
	var staged string
	if err == nil {
		staged = tempName(home)
		err = c.sftpPut(ctx, r, r.r, tempName(home), staged, 0o600)
	}
	if err != nil {
		return fail(fmt.Errorf("staging for sudo: %w", err))
	}
	owner := o.Owner
	p, tmp := sudoInstall(op, staged, target, perm, owner)
	_, err = c.Run(ctx, p)
	cleanup := []Step{{Name: "remove staged", Args: []string{"rm", "-f", "--", staged}, IgnoreErrors: true}}
	if err != nil {
		cleanup = append(cleanup, Step{Name: "remove temp", Args: []string{"rm", "-f", "--", tmp}, User: "root", IgnoreErrors: true})
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	c.Run(cctx, &Pipeline{Name: "cleanup " + target, Steps: cleanup})
	cancel()
	if err != nil {
		return fail(fmt.Errorf("permission denied for the login user, and through sudo: %w", err))
	}
	r.report(true)
	return nil
}

// sudoInstall returns the pipeline that, as root, installs the staged
// file next to target with mode perm and owner ("user[:group]"; empty
// keeps the owner of the file replaced, or root), then renames it into
// place; and the name of the temporary file next to target.
func sudoInstall(op, staged, target string, perm fs.FileMode, owner string) (*Pipeline, string) {
	tmp := tempName(path.Dir(target))
	install := []string{"install", "-m", modeString(perm)}
	if owner != "" {
		u, g, hasGroup := strings.Cut(owner, ":")
		install = append(install, "-o", u)
		if hasGroup {
			install = append(install, "-g", g)
		}
	}
	install = append(install, "-T", "--", staged, tmp)
	steps := []Step{{Name: "install", Args: install, User: "root"}}
	if owner == "" {
		// Keep the owner and group of the file being replaced, if any.
		steps = append(steps, Step{Name: "keep owner", Args: []string{"chown", "--reference=" + target, "--", tmp}, User: "root", IgnoreErrors: true, Hidden: true})
	}
	steps = append(steps, Step{Name: "rename", Args: []string{"mv", "-f", "-T", "--", tmp, target}, User: "root"})
	return &Pipeline{Name: op + " " + target, Steps: steps}, tmp
}

func modeString(m fs.FileMode) string { return "0" + strconv.FormatUint(uint64(m.Perm()), 8) }
