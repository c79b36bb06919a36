//go:build !shipbridge_bugs

package poller

// runKnownBugs is false in ordinary runs: cases marked with a known bug are
// skipped so that CI stays green; see corpus_bugs_test.go.
const runKnownBugs = false
