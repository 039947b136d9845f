package deploycheck_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jea/cliente/cmd/internal/config"
)

// repoRoot is the module root: go test runs in cmd/internal/deploycheck.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	if !bytes.Contains(gomod, []byte("module github.com/jea/cliente\n")) {
		t.Fatalf("%s/go.mod is not the github.com/jea/cliente module", root)
	}
	return root
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envNames returns the environment variable names that config.Load reads
// into a value of type T, from the `env` struct tags, following embedded and
// nested structs (and `envPrefix`) as github.com/caarlos0/env does.
func envNames[T any]() map[string]bool {
	names := map[string]bool{}
	collectEnv(reflect.TypeFor[T](), "", names)
	return names
}

func collectEnv(typ reflect.Type, prefix string, names map[string]bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		if tag, ok := f.Tag.Lookup("env"); ok {
			if name, _, _ := strings.Cut(tag, ","); name != "" {
				names[prefix+name] = true
				continue
			}
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			collectEnv(ft, prefix+f.Tag.Get("envPrefix"), names)
		}
	}
}

// role describes one of the two binaries the deployment files run.
type role struct {
	name  string          // "worker" or "edge": compose service, binary name
	known map[string]bool // variables the binary reads
	// required must be set in every deployment: the defaults point at
	// 127.0.0.1, which is wrong in a container.
	required []string
	port     int // the HTTP_ADDR port: probes, the API
	// metricsPort serves /metrics: the worker's HTTP_ADDR port, the edge's
	// METRICS_ADDR port (never its public one).
	metricsPort int
}

func roles(t *testing.T) []role {
	t.Helper()
	rs := []role{
		{
			name:        "worker",
			known:       envNames[config.Worker](),
			required:    []string{"KAFKA_BROKERS", "MONGODB_URI", "HTTP_ADDR"},
			port:        9091,
			metricsPort: 9091,
		},
		{
			name:  "edge",
			known: envNames[config.Edge](),
			// The edge refuses to start without an issuer, and its metrics
			// default to loopback.
			required:    []string{"KAFKA_BROKERS", "HTTP_ADDR", "METRICS_ADDR", "AUTH_ISSUER"},
			port:        8080,
			metricsPort: 9095,
		},
	}
	// Guard the reflection itself: a silent empty set would make every
	// "unknown variable" check pass.
	for _, r := range rs {
		for _, name := range append(slices.Clone(r.required), "LOG_LEVEL", "TOPIC_PARTITIONS") {
			if !r.known[name] {
				t.Fatalf("config for %s does not declare %s (found %v): the env tag reflection is broken", r.name, name, sortedKeys(r.known))
			}
		}
	}
	return rs
}

// checkEnv checks the environment one deployment gives a binary.
func checkEnv(t *testing.T, where string, r role, env map[string]string) {
	t.Helper()
	for name := range env {
		if !r.known[name] {
			t.Errorf("%s: %s sets %s, which config.%s does not read (known: %v)", where, r.name, name, strings.ToUpper(r.name[:1])+r.name[1:], sortedKeys(r.known))
		}
	}
	for _, name := range r.required {
		if env[name] == "" {
			t.Errorf("%s: %s must set %s (its default is only good outside a container)", where, r.name, name)
		}
	}
	if addr, ok := env["HTTP_ADDR"]; ok {
		checkListenAddr(t, where, r.name, "HTTP_ADDR", addr, r.port)
	}
	if addr, ok := env["METRICS_ADDR"]; ok {
		checkListenAddr(t, where, r.name, "METRICS_ADDR", addr, r.metricsPort)
	}
	if iss, ok := env["AUTH_ISSUER"]; ok {
		if u, err := url.Parse(iss); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			t.Errorf("%s: %s AUTH_ISSUER %q is not an issuer URL", where, r.name, iss)
		}
	}
}

// checkListenAddr checks that a listen address (variable name) is
// reachable from outside the container (probes, Prometheus, clients) and on
// the expected port.
func checkListenAddr(t *testing.T, where, binary, name, addr string, wantPort int) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: %s %s %q: %v", where, binary, name, addr, err)
		return
	}
	if host == "localhost" {
		t.Errorf("%s: %s %s %q listens on loopback only: nothing outside the container can reach it", where, binary, name, addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		t.Errorf("%s: %s %s %q listens on loopback only: nothing outside the container can reach it", where, binary, name, addr)
	}
	if want := strconv.Itoa(wantPort); port != want {
		t.Errorf("%s: %s %s %q: want port %s", where, binary, name, addr, want)
	}
}

// yamlDocs decodes every document of a YAML stream into nodes, skipping
// documents that are empty or only comments.
func yamlDocs(t *testing.T, name string, data []byte) []*yaml.Node {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind == 0 ||
			(doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
			continue
		}
		docs = append(docs, &doc)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
