package store

import (
	"os"
	"syscall"
	"unsafe"
)

var pageSize = uintptr(os.Getpagesize())

// dropPages tells the kernel that this process no longer needs the pages of the store file's
// mapping that hold [p, p+n): they stop counting in its resident set. The file's page cache
// keeps them, and a later read faults them in again, unchanged: bbolt's mapping is shared and
// read-only (it writes with pwrite). Without it every blob read (a 40 KB waybill sent to
// MoySklad) would stay resident for as long as the mapping lives.
//
// The range is first checked to lie inside the mapped data [base, base+size), the caller
// holding a read transaction so that bbolt cannot remap meanwhile: bbolt may hand out a heap
// copy instead of mapped bytes (an unaligned inline bucket), and MADV_DONTNEED on the heap
// would zero it. The whole pages around the range are dropped, neighbours' bytes included:
// they are mapped file pages too, and fault in again when read.
func dropPages(p, n, base uintptr, size int64) {
	if n == 0 || base == 0 || size <= 0 || p < base || p+n > base+uintptr(size) {
		return
	}
	start := p &^ (pageSize - 1)
	end := (p + n + pageSize - 1) &^ (pageSize - 1)
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED)
}

// addrOf is the address of v's first byte.
func addrOf(v []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(v))) }
