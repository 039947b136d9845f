// Command kafkaacl grants the services their Kafka ACLs (topics.ServiceACLs)
// on a broker with an authorizer, as a super user whose SASL credentials
// come from KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD.
// deploy/local/infra.sh runs it on every start: it adds the missing rules and
// deletes the users' rules that the matrix no longer has.
//
//	go run ./cmd/kafkaacl -kafka 127.0.0.1:19092 -worker cliente-worker -edge cliente-edge -ventas ventas
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jea/cliente/cmd/internal/app"
	"github.com/jea/cliente/topics"
)

func main() {
	app.Main("kafkaacl", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Getenv, os.Stdout) })
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kafkaacl", flag.ContinueOnError)
	brokers := fs.String("kafka", "", "comma-separated brokers")
	var p topics.Principals
	fs.StringVar(&p.Worker, "worker", "cliente-worker", "the worker's user")
	fs.StringVar(&p.Edge, "edge", "cliente-edge", "the edge's user")
	fs.StringVar(&p.Ventas, "ventas", "ventas", "the sales service's user")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *brokers == "" {
		return errors.New("give -kafka")
	}
	cluster, err := topics.NewCluster(strings.Split(*brokers, ","), topics.SASLFromEnv(getenv))
	if err != nil {
		return err
	}
	if _, ok := cluster.Authenticated(); !ok {
		return errors.New("no KAFKA_SASL_MECHANISM: ACLs are granted by an authenticated super user")
	}
	acls := topics.ServiceACLs(p)
	added, deleted, err := topics.SyncACLs(ctx, cluster, acls)
	if err != nil {
		return err
	}
	for _, a := range acls {
		fmt.Fprintln(stdout, "allowed:", a)
	}
	fmt.Fprintf(stdout, "%d rules added, %d rules of these users not in the matrix deleted\n", added, deleted)
	return nil
}
