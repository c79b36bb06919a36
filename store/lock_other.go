//go:build !unix

package store

import (
	"os"
	"time"
)

// lockFile does nothing where flock is not available: the file is checked without the lock,
// and bbolt's own lock still keeps a second shipbridge out.
func lockFile(*os.File, time.Duration) error { return nil }
