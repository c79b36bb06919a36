package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
)

// ErrDamaged is wrapped by every error that reports a damaged store file: a file cut short, a
// page overwritten, a value that does not decode. The store cannot be trusted and is not
// written; put a backup in its place.
var ErrDamaged = errors.New("the store is damaged: restore a backup (see README)")

// bbolt's on-disk format (go.etcd.io/bbolt/internal/common, v1.4: page.go, meta.go,
// inbucket.go), read here with plain file reads so that a damaged file is found without
// touching bbolt's memory map: bbolt trusts every page number and offset it reads, and a bad
// one makes it fault (SIGBUS/SIGSEGV) or panic.
const (
	pageHeaderSize  = 16 // id uint64, flags uint16, count uint16, overflow uint32
	elementSize     = 16 // leaf: flags, pos, ksize, vsize uint32; branch: pos, ksize uint32, pgid uint64
	bucketValueSize = 16 // root pgid uint64, sequence uint64

	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	metaPageFlag     = 0x04
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01

	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	metaSize       = 64 // magic … txid, checksum
	metaSumLen     = 56 // the checksum covers the meta up to the checksum field
	pgidNoFreelist = ^uint64(0)
	maxPageSize    = 1 << 24
	maxProblems    = 20
	maxTreeDepth   = 64
)

var native = binary.NativeEndian // bbolt writes its structures in the machine's byte order

// meta is a decoded bbolt meta page.
type meta struct {
	pageSize uint32
	root     uint64 // root bucket's root page
	freelist uint64
	pgid     uint64 // high-water mark: pages [0, pgid) are in use or free
	txid     uint64
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return meta{}, errors.New("too short")
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	if native.Uint32(m[0:]) != boltMagic {
		return meta{}, errors.New("not a bbolt meta page (bad magic)")
	}
	if v := native.Uint32(m[4:]); v != boltVersion {
		return meta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != native.Uint64(m[metaSumLen:]) {
		return meta{}, errors.New("checksum mismatch")
	}
	return meta{
		pageSize: native.Uint32(m[8:]),
		root:     native.Uint64(m[16:]),
		freelist: native.Uint64(m[32:]),
		pgid:     native.Uint64(m[40:]),
		txid:     native.Uint64(m[48:]),
	}, nil
}

// fileReport is what verifyFile found.
type fileReport struct {
	Size     int64
	PageSize int
	Pages    uint64 // high-water mark
	Free     int
	Buckets  int
	Keys     int
	Problems []string

	inUse []bool // pages reachable from the meta page, for tests
}

// damaged turns the problems of r into an error wrapping ErrDamaged, or nil.
func (r fileReport) damaged(path string) error {
	if len(r.Problems) == 0 {
		return nil
	}
	msg := r.Problems[0]
	if n := len(r.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more problems; `shipbridge store check` lists them)", n)
	}
	return fmt.Errorf("store: %s: %w: %s", path, ErrDamaged, msg)
}

// verifyFile checks the structure of the bbolt file f of the given size: both meta pages, that
// the file is as long as the chosen meta page says, the freelist, and every page reachable from
// the root bucket (bounds, type, element offsets, key order, each page used once), and that
// every page is either reachable or free: the consistency rules of bbolt's own Tx.Check. It
// reads with ReadAt only, so a damaged file gives problems, never a fault or a panic. An error
// is returned only when the file cannot be read.
func verifyFile(f io.ReaderAt, size int64) (fileReport, error) {
	r := fileReport{Size: size}
	if size == 0 {
		r.Problems = append(r.Problems, "the file is empty (0 bytes)")
		return r, nil
	}
	m, pageSize, problem, err := chooseMeta(f, size)
	if err != nil {
		return r, err
	}
	if problem != "" {
		r.Problems = append(r.Problems, problem)
		return r, nil
	}
	r.PageSize, r.Pages = pageSize, m.pgid
	if m.pgid < 2 {
		r.Problems = append(r.Problems, fmt.Sprintf("meta page: impossible page count %d", m.pgid))
		return r, nil
	}
	if m.pgid > uint64(size)/uint64(pageSize) {
		r.Problems = append(r.Problems, fmt.Sprintf("the file is cut: %d bytes, but its meta page says %d pages of %d bytes", size, m.pgid, pageSize))
		return r, nil
	}
	w := &walker{f: f, pageSize: pageSize, hwm: m.pgid, reachable: make([]bool, m.pgid), freed: make([]bool, m.pgid), report: &r}
	w.reachable[0], w.reachable[1] = true, true
	if m.freelist != pgidNoFreelist {
		if err := w.freelist(m.freelist); err != nil {
			return r, err
		}
	}
	if !w.full() {
		if err := w.tree(m.root, nil, nil, "root bucket", 0); err != nil {
			return r, err
		}
	}
	r.inUse = w.reachable
	// Without a synced freelist (bbolt's NoFreelistSync, which shipbridge does not use) free
	// pages cannot be told from lost ones.
	if len(r.Problems) == 0 && m.freelist != pgidNoFreelist {
		for id := uint64(2); id < m.pgid && !w.full(); id++ {
			if !w.reachable[id] && !w.freed[id] {
				w.problem("page %d: neither in use nor free", id)
			}
		}
	}
	return r, nil
}

// chooseMeta reads both meta pages and returns the one bbolt would use: the valid one with the
// highest transaction id. The page size comes from the first valid meta page (page 0, else page
// 1 found at one of the page sizes bbolt supports).
func chooseMeta(f io.ReaderAt, size int64) (meta, int, string, error) {
	buf := make([]byte, 4096)
	readMeta := func(off int64) (meta, error) {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return meta{}, err
		}
		return decodeMeta(buf[:n])
	}
	m0, err0 := readMeta(0)
	var pageSize int
	var m1 meta
	err1 := errors.New("not found")
	if err0 == nil {
		pageSize = int(m0.pageSize)
		if pageSize < 1024 || pageSize > maxPageSize || pageSize&(pageSize-1) != 0 {
			return meta{}, 0, fmt.Sprintf("meta page 0: impossible page size %d", pageSize), nil
		}
		if int64(pageSize) < size {
			m1, err1 = readMeta(int64(pageSize))
		}
	} else {
		for ps := int64(1024); ps <= maxPageSize && ps < size; ps <<= 1 {
			if m, err := readMeta(ps); err == nil && int64(m.pageSize) == ps {
				m1, err1, pageSize = m, nil, int(ps)
				break
			}
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return meta{}, 0, fmt.Sprintf("no valid meta page (page 0: %v; page 1: %v): this is not a bbolt file or its first pages are overwritten", err0, err1), nil
	case err0 != nil:
		return m1, pageSize, "", nil
	case err1 != nil || m0.txid >= m1.txid:
		return m0, pageSize, "", nil
	default:
		return m1, pageSize, "", nil
	}
}

// walker visits the pages of one bbolt file.
type walker struct {
	f         io.ReaderAt
	pageSize  int
	hwm       uint64
	reachable []bool
	freed     []bool
	report    *fileReport
}

func (w *walker) problem(format string, args ...any) {
	if len(w.report.Problems) < maxProblems {
		w.report.Problems = append(w.report.Problems, fmt.Sprintf(format, args...))
	}
}

func (w *walker) full() bool { return len(w.report.Problems) >= maxProblems }

// page reads page id with its overflow pages and checks its header; nil when it is unusable
// (the problem is recorded).
func (w *walker) page(id uint64, from string) ([]byte, error) {
	if id < 2 || id >= w.hwm {
		w.problem("page %d (referenced by %s): out of range [2, %d)", id, from, w.hwm)
		return nil, nil
	}
	buf := make([]byte, w.pageSize)
	if _, err := w.f.ReadAt(buf, int64(id)*int64(w.pageSize)); err != nil {
		return nil, fmt.Errorf("read page %d: %w", id, err)
	}
	if got := native.Uint64(buf); got != id {
		w.problem("page %d (referenced by %s): its header says page %d: overwritten", id, from, got)
		return nil, nil
	}
	overflow := uint64(native.Uint32(buf[12:]))
	if id+overflow >= w.hwm {
		w.problem("page %d (referenced by %s): %d overflow pages run past the end (%d pages)", id, from, overflow, w.hwm)
		return nil, nil
	}
	for p := id; p <= id+overflow; p++ {
		switch {
		case w.reachable[p]:
			w.problem("page %d (referenced by %s): used twice", p, from)
			return nil, nil
		case w.freed[p]:
			w.problem("page %d (referenced by %s): in use but listed as free", p, from)
			return nil, nil
		}
		w.reachable[p] = true
	}
	if overflow > 0 {
		buf = append(buf, make([]byte, int(overflow)*w.pageSize)...)
		if _, err := w.f.ReadAt(buf[w.pageSize:], int64(id+1)*int64(w.pageSize)); err != nil {
			return nil, fmt.Errorf("read page %d: %w", id, err)
		}
	}
	return buf, nil
}

func (w *walker) freelist(id uint64) error {
	buf, err := w.page(id, "the meta page (freelist)")
	if err != nil || buf == nil {
		return err
	}
	if flags := native.Uint16(buf[8:]); flags != freelistPageFlag {
		w.problem("page %d: should be the freelist, has type flags %#x", id, flags)
		return nil
	}
	count, start := uint64(native.Uint16(buf[10:])), uint64(pageHeaderSize)
	if count == 0xFFFF {
		count, start = native.Uint64(buf[pageHeaderSize:]), pageHeaderSize+8
	}
	if count > uint64(len(buf)-int(start))/8 {
		w.problem("page %d (freelist): %d ids do not fit in the page", id, count)
		return nil
	}
	for i := uint64(0); i < count && !w.full(); i++ {
		free := native.Uint64(buf[start+8*i:])
		switch {
		case free < 2 || free >= w.hwm:
			w.problem("freelist: page %d out of range [2, %d)", free, w.hwm)
		case w.freed[free]:
			w.problem("freelist: page %d listed twice", free)
		case w.reachable[free]:
			w.problem("freelist: page %d is the freelist itself", free)
		default:
			w.freed[free] = true
			w.report.Free++
		}
	}
	return nil
}

// tree checks the page tree rooted at page id, whose keys must lie in [lo, hi) (nil: unbounded).
func (w *walker) tree(id uint64, lo, hi []byte, from string, depth int) error {
	if depth > maxTreeDepth {
		w.problem("page %d (referenced by %s): tree deeper than %d levels", id, from, maxTreeDepth)
		return nil
	}
	buf, err := w.page(id, from)
	if err != nil || buf == nil {
		return err
	}
	where := "page " + strconv.FormatUint(id, 10)
	switch flags := native.Uint16(buf[8:]); flags {
	case branchPageFlag:
		keys, children, ok := w.branchElements(buf, where)
		if !ok {
			return nil
		}
		w.checkOrder(keys, lo, hi, where)
		for i, child := range children {
			next := hi
			if i+1 < len(keys) {
				next = keys[i+1]
			}
			if err := w.tree(child, keys[i], next, where, depth+1); err != nil || w.full() {
				return err
			}
		}
		return nil
	case leafPageFlag:
		return w.leaf(buf, lo, hi, where, depth)
	default:
		w.problem("%s (referenced by %s): type flags %#x, want a branch or leaf page: overwritten", where, from, flags)
		return nil
	}
}

// branchElements decodes the elements of a branch page, checking every offset.
func (w *walker) branchElements(buf []byte, where string) (keys [][]byte, children []uint64, ok bool) {
	count := int(native.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		w.problem("%s: %d elements do not fit in the page", where, count)
		return nil, nil, false
	}
	for i := range count {
		e := pageHeaderSize + i*elementSize
		pos, ksize := uint64(native.Uint32(buf[e:])), uint64(native.Uint32(buf[e+4:]))
		start := uint64(e) + pos
		if start+ksize > uint64(len(buf)) {
			w.problem("%s: element %d points outside the page", where, i)
			return nil, nil, false
		}
		keys = append(keys, buf[start:start+ksize])
		children = append(children, native.Uint64(buf[e+8:]))
	}
	return keys, children, true
}

// leaf checks a leaf page (or an inline bucket's page) and the buckets it holds.
func (w *walker) leaf(buf []byte, lo, hi []byte, where string, depth int) error {
	count := int(native.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		w.problem("%s: %d elements do not fit in the page", where, count)
		return nil
	}
	keys := make([][]byte, 0, count)
	type child struct {
		key   []byte
		value []byte
	}
	var buckets []child
	for i := range count {
		e := pageHeaderSize + i*elementSize
		flags := native.Uint32(buf[e:])
		pos, ksize, vsize := uint64(native.Uint32(buf[e+4:])), uint64(native.Uint32(buf[e+8:])), uint64(native.Uint32(buf[e+12:]))
		start := uint64(e) + pos
		if start+ksize+vsize > uint64(len(buf)) {
			w.problem("%s: element %d points outside the page", where, i)
			return nil
		}
		key := buf[start : start+ksize]
		keys = append(keys, key)
		w.report.Keys++
		switch flags {
		case 0:
		case bucketLeafFlag:
			buckets = append(buckets, child{key, buf[start+ksize : start+ksize+vsize]})
		default:
			w.problem("%s: element %d has flags %#x: overwritten", where, i, flags)
			return nil
		}
	}
	w.checkOrder(keys, lo, hi, where)
	for _, b := range buckets {
		w.report.Buckets++
		name := fmt.Sprintf("bucket %q in %s", printable(b.key), where)
		if len(b.value) < bucketValueSize {
			w.problem("%s: header of %d bytes, want %d", name, len(b.value), bucketValueSize)
			continue
		}
		root := native.Uint64(b.value)
		if root != 0 {
			if err := w.tree(root, nil, nil, name, depth+1); err != nil {
				return err
			}
		} else {
			inline := b.value[bucketValueSize:]
			switch {
			case len(inline) < pageHeaderSize:
				w.problem("%s: inline page of %d bytes", name, len(inline))
			case native.Uint16(inline[8:]) != leafPageFlag:
				w.problem("%s: inline page with type flags %#x", name, native.Uint16(inline[8:]))
			default:
				if err := w.leaf(inline, nil, nil, name, depth+1); err != nil {
					return err
				}
			}
		}
		if w.full() {
			return nil
		}
	}
	return nil
}

// checkOrder checks that keys are strictly increasing and within [lo, hi).
func (w *walker) checkOrder(keys [][]byte, lo, hi []byte, where string) {
	for i, k := range keys {
		switch {
		case i == 0 && lo != nil && bytes.Compare(k, lo) < 0:
			w.problem("%s: first key %q sorts before its parent's key %q", where, printable(k), printable(lo))
		case i > 0 && bytes.Compare(keys[i-1], k) >= 0:
			w.problem("%s: key %d (%q) is not after key %d (%q)", where, i, printable(k), i-1, printable(keys[i-1]))
		case hi != nil && bytes.Compare(k, hi) >= 0:
			w.problem("%s: key %q is not before the next key of its parent %q", where, printable(k), printable(hi))
		default:
			continue
		}
		return
	}
}

// printable shortens a key for a message; binary keys are shown quoted by %q.
func printable(k []byte) string {
	if len(k) > 48 {
		return string(k[:48]) + "…"
	}
	return string(k)
}

// verifyPath checks the file at path; see verifyFile.
func verifyPath(path string) (fileReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileReport{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fileReport{}, err
	}
	return verifyFile(f, info.Size())
}
