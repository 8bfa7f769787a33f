package executor

import (
	"bytes"
	"fmt"
)

// lineSplitter cuts a byte stream into lines ending in "\n" or "\r",
// redacts them and hands them to emit. Lines longer than maxLine are cut,
// never through a secret.
type lineSplitter struct {
	red     *redactor
	emit    func(line []byte)
	pending []byte
	maxLine int
}

const defaultMaxLine = 64 << 10

func (l *lineSplitter) Write(p []byte) (int, error) {
	n := len(p)
	if len(l.pending) > 0 {
		// Complete the held-back line first.
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			l.pending = append(l.pending, p...)
			p = nil
		} else {
			l.pending = append(l.pending, p[:i+1]...)
			l.emit(l.red.bytes(l.pending))
			l.pending = l.pending[:0]
			p = p[i+1:]
		}
	}
	// Whole lines go out straight from p, without a copy.
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			l.pending = append(l.pending, p...)
			break
		}
		l.emit(l.red.bytes(p[:i+1]))
		p = p[i+1:]
	}
	maxLine := l.maxLine
	if maxLine == 0 {
		maxLine = defaultMaxLine
	}
	for len(l.pending) > maxLine {
		keep := 0
		if l.red != nil && l.red.max > 1 {
			keep = l.red.max - 1
		}
		want := len(l.pending) - keep
		cut := 0
		if want > 0 {
			cut = l.red.safeCut(l.pending, want)
		}
		if cut <= 0 {
			if len(l.pending) < 4*maxLine {
				break // wait for more: a cut point will come
			}
			// Only endless overlapping occurrences of a secret that
			// repeats itself, or a secret longer than a line, get
			// here: cut anyway, so that memory stays bounded.
			cut = max(want, len(l.pending)-maxLine)
		}
		l.emit(l.red.bytes(l.pending[:cut]))
		l.pending = l.pending[cut:]
	}
	// Keep the buffer from growing by reusing its head.
	if cap(l.pending) > 4*maxLine && len(l.pending) < maxLine {
		l.pending = append([]byte(nil), l.pending...)
	}
	return n, nil
}

// Flush emits what is left, as a line without a terminator.
func (l *lineSplitter) Flush() {
	if len(l.pending) > 0 {
		l.emit(l.red.bytes(l.pending))
		l.pending = l.pending[:0]
	}
}

// capture keeps the head and the tail of a stream within limit bytes.
type capture struct {
	limit int
	head  []byte
	tail  []byte // ring buffer
	pos   int    // next write position in tail once full
	full  bool
	total int64
}

func newCapture(limit int) *capture { return &capture{limit: limit} }

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	c.total += int64(n)
	if room := c.limit/2 - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	tl := c.limit - c.limit/2
	for len(p) > 0 && tl > 0 {
		if !c.full {
			k := min(tl-len(c.tail), len(p))
			c.tail = append(c.tail, p[:k]...)
			p = p[k:]
			if len(c.tail) == tl {
				c.full = true
				c.pos = 0
			}
			continue
		}
		k := copy(c.tail[c.pos:], p)
		p = p[k:]
		c.pos = (c.pos + k) % tl
	}
	return n, nil
}

// Truncated reports whether bytes were left out.
func (c *capture) Truncated() bool { return c.total > int64(len(c.head)+len(c.tail)) }

// Bytes returns the kept output; when bytes were left out, a line saying
// how many stands between head and tail.
func (c *capture) Bytes() []byte {
	var b bytes.Buffer
	b.Write(c.head)
	omitted := c.total - int64(len(c.head)+len(c.tail))
	if omitted > 0 {
		fmt.Fprintf(&b, "\n[… %d bytes omitted …]\n", omitted)
	}
	if c.full {
		b.Write(c.tail[c.pos:])
		b.Write(c.tail[:c.pos])
	} else {
		b.Write(c.tail)
	}
	if b.Len() == 0 {
		return nil
	}
	return b.Bytes()
}

// demux splits a stream that carries in-band markers
// "\x1eFERRY<nonce>:<payload>\x1e" from the driver script. Bytes between
// markers go to data; marker payloads go to marker.
type demux struct {
	prefix []byte
	buf    []byte
	data   func([]byte)
	marker func(string)
}

const markerMax = 128

func newDemux(nonce string, data func([]byte), marker func(string)) *demux {
	return &demux{prefix: []byte("\x1eFERRY" + nonce + ":"), data: data, marker: marker}
}

func (d *demux) Write(p []byte) (int, error) {
	n := len(p)
	if len(d.buf) == 0 {
		// Fast path: no held-back bytes; scan p in place.
		d.scan(p)
		return n, nil
	}
	d.buf = append(d.buf, p...)
	buf := d.buf
	d.buf = nil
	d.scan(buf)
	return n, nil
}

func (d *demux) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.Index(p, d.prefix)
		if i < 0 {
			keep := partialPrefix(p, d.prefix)
			if len(p)-keep > 0 {
				d.data(p[:len(p)-keep])
			}
			d.buf = append(d.buf[:0], p[len(p)-keep:]...)
			return
		}
		if i > 0 {
			d.data(p[:i])
		}
		rest := p[i+len(d.prefix):]
		j := bytes.IndexByte(rest, 0x1e)
		if j < 0 {
			if len(rest) > markerMax {
				// Not a marker after all.
				d.data(p[i : i+len(d.prefix)])
				p = rest
				continue
			}
			d.buf = append(d.buf[:0], p[i:]...)
			return
		}
		d.marker(string(rest[:j]))
		p = rest[j+1:]
	}
}

// Flush hands held-back bytes to data at the end of the stream.
func (d *demux) Flush() {
	if len(d.buf) > 0 {
		d.data(d.buf)
		d.buf = nil
	}
}

// partialPrefix returns the length of the longest suffix of p that is a
// proper prefix of prefix.
func partialPrefix(p, prefix []byte) int {
	for k := min(len(prefix)-1, len(p)); k > 0; k-- {
		if bytes.Equal(p[len(p)-k:], prefix[:k]) {
			return k
		}
	}
	return 0
}
