//go:build shipbridge_bugs

package poller

// runKnownBugs makes the corpus run the cases marked with a known bug, so
// that they fail until the bug is fixed: go test -tags shipbridge_bugs ./poller.
const runKnownBugs = true
