// Command edge serves the /cliente HTTP API by sending each request to the
// customer topics and waiting for the correlated reply. Configuration:
// environment variables, see cmd/internal/config.
package main

import (
	"context"
	"io"
	"os"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/cmd/internal/config"
)

func main() {
	app.Main("edge", func(ctx context.Context) error { return run(ctx, os.Environ(), os.Stdout) })
}

func run(ctx context.Context, environ []string, stdout io.Writer) error {
	return app.Process(ctx, environ, stdout, "cliente-edge", config.Load[config.Edge], app.RunEdge)
}
