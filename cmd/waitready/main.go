// Command waitready blocks until a Kafka broker answers a metadata request
// and a MongoDB-protocol server answers a ping, or fails after -timeout.
// The infrastructure scripts use it instead of fixed sleeps. Kafka SASL
// credentials come from KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and
// KAFKA_SASL_PASSWORD.
//
//	go run ./cmd/waitready -kafka 127.0.0.1:19092 -mongodb mongodb://127.0.0.1:27018/ -timeout 2m
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/repository"
	"github.com/jea/cliente/topics"
)

func main() {
	app.Main("waitready", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("waitready", flag.ContinueOnError)
	kafka := fs.String("kafka", "", "comma-separated brokers to wait for")
	mongoURI := fs.String("mongodb", "", "MongoDB URI to wait for")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kafka == "" && *mongoURI == "" {
		return errors.New("nothing to wait for: give -kafka and/or -mongodb")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	start := time.Now()
	if *kafka != "" {
		cluster, err := topics.NewCluster(strings.Split(*kafka, ","), topics.SASLFromEnv(os.Getenv))
		if err != nil {
			return err
		}
		if err := poll(ctx, func(ctx context.Context) error { return topics.Ping(ctx, cluster) }); err != nil {
			return fmt.Errorf("kafka %s: %w", *kafka, err)
		}
		fmt.Fprintf(stdout, "kafka %s ready after %v\n", *kafka, time.Since(start).Round(time.Millisecond))
	}
	if *mongoURI != "" {
		if err := poll(ctx, func(ctx context.Context) error { return repository.PingURI(ctx, *mongoURI) }); err != nil {
			return fmt.Errorf("mongodb: %w", err)
		}
		fmt.Fprintf(stdout, "mongodb ready after %v\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// poll calls check every 200 ms until it succeeds or ctx ends.
func poll(ctx context.Context, check func(context.Context) error) error {
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := check(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
