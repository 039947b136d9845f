package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	w, err := Load[Worker](nil)
	if err != nil {
		t.Fatal(err)
	}
	if w.HTTPAddr != "127.0.0.1:9091" || w.CommandTopic != "cliente.comandos" || w.QueryTopic != "cliente.consultas" ||
		w.Partitions != 6 || w.Concurrency != 8 || w.CommandConcurrency != 32 || w.Brokers[0] != "127.0.0.1:9092" || w.ShutdownTimeout != 15*time.Second {
		t.Fatalf("worker defaults %+v", w)
	}
	e, err := Load[Edge]([]string{issuer})
	if err != nil {
		t.Fatal(err)
	}
	if e.HTTPAddr != "127.0.0.1:8080" || e.RequestTimeout != 5*time.Second || e.MaxBodyBytes != 1<<20 ||
		e.MetricsAddr != "127.0.0.1:9095" || e.Pprof || e.AuthAudience != "cliente" {
		t.Fatalf("edge defaults %+v", e)
	}
	if !strings.HasPrefix(e.ReplyTopicOrDefault(), "cliente.respuestas.") {
		t.Fatalf("reply topic %q", e.ReplyTopicOrDefault())
	}
}

func TestOverridesAndErrors(t *testing.T) {
	e, err := Load[Edge]([]string{"KAFKA_BROKERS=a:1,b:2", "REPLY_TOPIC=mine", "REQUEST_TIMEOUT=250ms", issuer})
	if err != nil || len(e.Brokers) != 2 || e.ReplyTopicOrDefault() != "mine" || e.RequestTimeout != 250*time.Millisecond {
		t.Fatalf("%+v, %v", e, err)
	}
	for _, bad := range [][]string{
		{"KAFKA_BROKERS=,"},
		{"TOPIC_PARTITIONS=0"},
		{"TOPIC_PARTITIONS=many"},
		{"WORKER_CONCURRENCY=0"},
		{"WORKER_COMMAND_CONCURRENCY=0"},
		{"SHUTDOWN_TIMEOUT=-1s"},
	} {
		if _, err := Load[Worker](bad); err == nil {
			t.Errorf("Load(%v) accepted", bad)
		}
	}
	// An empty variable counts as unset: the default applies.
	if w, err := Load[Worker]([]string{"KAFKA_BROKERS=", "TOPIC_COMMANDS="}); err != nil || w.Brokers[0] != "127.0.0.1:9092" || w.CommandTopic != "cliente.comandos" {
		t.Errorf("empty variables: %+v, %v", w, err)
	}
	if _, err := Load[Edge]([]string{"REQUEST_TIMEOUT=0s", issuer}); err == nil {
		t.Error("zero REQUEST_TIMEOUT accepted")
	}
}

const issuer = "AUTH_ISSUER=https://login.example.pe/"

// The edge has no way to run without an issuer, and keeps /metrics apart.
func TestEdgeAccessSettings(t *testing.T) {
	for _, bad := range [][]string{
		nil,
		{"AUTH_ISSUER="},
		{"AUTH_ISSUER=login.example.pe"},
		{"AUTH_ISSUER=ftp://login.example.pe"},
		{"AUTH_ISSUER=https://login.example.pe/?x=1"},
		{issuer, "AUTH_AUDIENCE= "},
		{issuer, "HTTP_ADDR=0.0.0.0:8080", "METRICS_ADDR=0.0.0.0:8080"},
		{issuer, "PPROF=maybe"},
	} {
		if _, err := Load[Edge](bad); err == nil {
			t.Errorf("Load[Edge](%q) accepted", bad)
		}
	}
	e, err := Load[Edge]([]string{issuer, "AUTH_AUDIENCE=https://api.example.pe/cliente", "METRICS_ADDR=0.0.0.0:9095", "PPROF=1"})
	if err != nil || !e.Pprof || e.AuthAudience != "https://api.example.pe/cliente" || e.MetricsAddr != "0.0.0.0:9095" {
		t.Fatalf("%+v, %v", e, err)
	}
}
