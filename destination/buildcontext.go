package destination

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is a local build context: a directory and the
// .dockerignore patterns that leave files out of it, applied as the
// docker CLI applies them (the Dockerfile and .dockerignore are sent even
// when a pattern names them).
type buildContext struct {
	dir        string
	dockerfile string // slash path inside dir
	pm         *patternmatcher.PatternMatcher
}

func newBuildContext(dir, dockerfile string) (*buildContext, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("destination: build context: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("destination: build context %s is not a directory", dir)
	}
	c := &buildContext{dir: dir, dockerfile: path.Clean(filepath.ToSlash(dockerfile))}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(c.dockerfile))); err != nil {
		return nil, fmt.Errorf("destination: build context %s: no Dockerfile: %w", dir, err)
	}
	var patterns []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("destination: %s: %w", filepath.Join(dir, ".dockerignore"), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("destination: build context: %w", err)
	}
	if c.pm, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("destination: %s: %w", filepath.Join(dir, ".dockerignore"), err)
	}
	return c, nil
}

// walk calls fn, in lexical order, for every file, directory and
// symbolic link of the context that .dockerignore keeps, with its slash
// path relative to the context.
func (c *buildContext) walk(fn func(rel, full string, d fs.DirEntry) error) error {
	return filepath.WalkDir(c.dir, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(c.dir, full)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != c.dockerfile && rel != ".dockerignore" {
			skip, err := c.pm.MatchesOrParentMatches(rel)
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() && !c.pm.Exclusions() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		return fn(rel, full, d)
	})
}

// hash returns a content hash of the context: paths, modes, link
// targets and file contents (not times or owners), with extra mixed in.
func (c *buildContext) hash(extra string) (string, error) {
	h := sha256.New()
	io.WriteString(h, extra)
	err := c.walkEntries(func(e contextEntry) error {
		fmt.Fprintf(h, "\x00%s\x00%o\x00%s\x00", e.rel, e.info.Mode(), e.link)
		if !e.info.Mode().IsRegular() {
			return nil
		}
		n, err := e.copyTo(h, nil)
		fmt.Fprintf(h, "\x00%d", n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("destination: reading build context: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contextEntry is what the hash and the archive record of a context
// entry: its slash path relative to the context, its file info and, for
// a symbolic link, its target.
type contextEntry struct {
	rel, full string
	info      fs.FileInfo
	link      string
}

// walkEntries calls fn as walk does, with each entry's info and link
// target.
func (c *buildContext) walkEntries(fn func(e contextEntry) error) error {
	return c.walk(func(rel, full string, d fs.DirEntry) error {
		e := contextEntry{rel: rel, full: full}
		var err error
		if e.info, err = d.Info(); err != nil {
			return err
		}
		if e.info.Mode()&fs.ModeSymlink != 0 {
			if e.link, err = os.Readlink(full); err != nil {
				return err
			}
		}
		return fn(e)
	})
}

// copyTo writes the content of a regular file's entry to w through buf
// (nil: one of its own) and returns how many bytes it wrote.
func (e contextEntry) copyTo(w io.Writer, buf []byte) (int64, error) {
	f, err := os.Open(e.full)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(w, f, buf)
}

// writeTar streams the context to w as a tar archive, one file at a
// time: memory stays at one copy buffer whatever the context's size.
// Times are zeroed and owners set to root, so the archive depends only
// on what the hash covers.
func (c *buildContext) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, 256<<10)
	err := c.walkEntries(func(e contextEntry) error {
		if !e.info.Mode().IsRegular() && !e.info.IsDir() && e.link == "" {
			return nil // sockets, devices, pipes: docker leaves them out too
		}
		hdr, err := tar.FileInfoHeader(e.info, e.link)
		if err != nil {
			return err
		}
		hdr.Name = e.rel
		if e.info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = time.Unix(0, 0), time.Time{}, time.Time{}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !e.info.Mode().IsRegular() {
			return nil
		}
		if n, err := e.copyTo(tw, buf); err != nil {
			return err
		} else if n != hdr.Size {
			return fmt.Errorf("%s changed size while being sent (%d bytes, then %d)", e.rel, hdr.Size, n)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("destination: sending build context %s: %w", c.dir, err)
	}
	return tw.Close()
}

// contextFiles lists the context's paths that .dockerignore keeps (for
// tests and dry runs).
func (c *buildContext) files() ([]string, error) {
	var out []string
	err := c.walk(func(rel, _ string, d fs.DirEntry) error {
		if !d.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}
