package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jea/cliente/repository/embedded"
	kafkaembedded "github.com/jea/cliente/topics/embedded"
)

func TestRunRejectsBadConfig(t *testing.T) {
	for _, env := range [][]string{{"LOG_LEVEL=loud"}, {"WORKER_CONCURRENCY=0"}} {
		if err := run(context.Background(), env, io.Discard); err == nil {
			t.Errorf("run(%v) = nil, want a config error", env)
		}
	}
}

// The real main path: run on embedded Kafka and FerretDB becomes ready,
// then stops cleanly when its context ends.
func TestRunServesUntilCancelled(t *testing.T) {
	broker, err := kafkaembedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := embedded.Start(ctx, embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	addr := freeAddr(t)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(runCtx, []string{"KAFKA_BROKERS=" + broker.Addrs()[0], "MONGODB_URI=" + db.URI(), "HTTP_ADDR=" + addr, "LOG_LEVEL=warn"}, io.Discard)
	}()
	waitStatus(t, "http://"+addr+"/readyz", 200, done)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return within 30s of cancel")
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitStatus(t *testing.T, url string, want int, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(fmt.Sprintf("%s never answered %d", url, want))
}
