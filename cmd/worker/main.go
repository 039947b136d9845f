// Command worker consumes the customer command and query topics and
// executes them against MongoDB. Configuration: environment variables, see
// cmd/internal/config.
package main

import (
	"context"
	"io"
	"os"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/config"
)

func main() {
	app.Main("worker", func(ctx context.Context) error { return run(ctx, os.Environ(), os.Stdout) })
}

func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return app.Process(ctx, environ, stdout, "cliente-worker", config.Load[config.Worker], app.RunWorker)
}
