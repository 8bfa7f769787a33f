package executor

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"time"
)

// progressReader counts bytes, reports Progress events at most every
// 100ms, and stops the transfer when ctx is done.
type progressReader struct {
	r    io.Reader
	ctx  context.Context
	size int64
	obs  Observer
	host string
	path string

	buf []byte          // what read reads into
	res chan readResult // where read's reads report

	mu   sync.Mutex
	n    int64
	last time.Time
}

// Size lets sftp's ReadFrom pick concurrent writes: -1 means unknown.
func (p *progressReader) Size() int64 {
	if p.size <= 0 {
		return -1
	}
	return p.size
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.read(b)
	p.add(n)
	if err != nil && err != io.EOF && err != p.ctx.Err() {
		err = &readError{err}
	}
	return n, err
}

// readError is an error of the reader being uploaded, as opposed to one
// of the transfer.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the upload's source: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// read reads from p.r but returns ctx's error as soon as ctx is done,
// even while p.r is blocked. The read then goes on in the background,
// into a buffer of p's own, and its result is dropped: p returns ctx's
// error from then on.
func (p *progressReader) read(b []byte) (int, error) {
	switch p.r.(type) {
	case *bytes.Reader, *strings.Reader:
		return p.r.Read(b) // never blocks
	}
	if p.ctx.Done() == nil {
		return p.r.Read(b)
	}
	if cap(p.buf) < len(b) {
		p.buf = make([]byte, len(b))
	}
	if p.res == nil {
		p.res = make(chan readResult, 1)
	}
	buf, res := p.buf[:len(b)], p.res
	go func() {
		n, err := p.r.Read(buf)
		res <- readResult{n, err}
	}()
	select {
	case r := <-res:
		return copy(b, buf[:r.n]), r.err
	case <-p.ctx.Done():
		return 0, p.ctx.Err()
	}
}

type readResult struct {
	n   int
	err error
}

func (p *progressReader) add(n int) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	p.n += int64(n)
	p.mu.Unlock()
	p.report(false)
}

func (p *progressReader) report(final bool) {
	if p.obs == nil {
		return
	}
	p.mu.Lock()
	now := time.Now()
	if !final && now.Sub(p.last) < 100*time.Millisecond {
		p.mu.Unlock()
		return
	}
	p.last = now
	n := p.n
	p.mu.Unlock()
	total := p.size
	if total <= 0 {
		total = -1
		if final {
			total = n
		}
	}
	p.obs.Event(Event{Kind: Progress, Time: now, Host: p.host, Step: p.path, Bytes: n, Total: total})
}

type progressWriter struct {
	w   io.Writer
	ctx context.Context
	p   progressReader
}

func (w *progressWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(b)
	w.p.add(n)
	return n, err
}
