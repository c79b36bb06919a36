// Command shipbridge turns MoySklad order statuses into carrier (CDEK) shipments.
// See README.md and `shipbridge --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shipbridge/shipbridge/app"
)

// Set at build time: go build -ldflags "-X main.version=v1.0.0 -X main.commit=$(git rev-parse --short HEAD)".
var (
	version string
	commit  string
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling so that a second one ends the process
	// at once instead of waiting for the graceful stop.
	context.AfterFunc(ctx, stop)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr,
		app.WithBuildInfo(app.BuildInfo{Version: version, Commit: commit}))
	stop()
	os.Exit(code)
}
