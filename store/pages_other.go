//go:build !linux

package store

import "unsafe"

// dropPages gives mapped pages back on Linux only (pages_linux.go).
func dropPages(p, n, base uintptr, size int64) {}

// addrOf is the address of v's first byte.
func addrOf(v []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(v))) }
