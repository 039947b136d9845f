package deploycheck_test

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml as `docker compose` would, validating
// it against the compose-spec schema, with an empty environment: no OS
// variables and no .env file take part.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return project
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q (has %v)", name, sortedKeys(p.Services))
	}
	return s
}

func environment(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		} else {
			env[k] = ""
		}
	}
	return env
}

func TestComposeServices(t *testing.T) {
	p := loadCompose(t)
	if p.Name != "cliente" {
		t.Errorf("project name = %q, want cliente (set by `name:`, so it does not depend on the directory)", p.Name)
	}
	for _, name := range []string{"kafka", "mongo", "worker", "edge", "hydra", "prometheus", "grafana"} {
		service(t, p, name)
	}
}

// The file promises to mean the same whatever the caller's environment: no
// interpolation at all.
func TestComposeHasNoInterpolation(t *testing.T) {
	raw := readFile(t, "docker-compose.yml")
	for i, line := range bytes.Split(raw, []byte("\n")) {
		code, _, _ := bytes.Cut(line, []byte("#"))
		if bytes.Contains(bytes.ReplaceAll(code, []byte("$$"), nil), []byte("$")) {
			t.Errorf("docker-compose.yml:%d uses interpolation: %s", i+1, line)
		}
	}
}

func TestComposeGoServicesEnvironment(t *testing.T) {
	p := loadCompose(t)
	for _, r := range roles(t) {
		s := service(t, p, r.name)
		env := environment(s)
		checkEnv(t, "docker-compose.yml", r, env)

		// KAFKA_BROKERS names the kafka service on its in-network listener.
		for _, b := range strings.Split(env["KAFKA_BROKERS"], ",") {
			host, port, err := net.SplitHostPort(b)
			if err != nil || host != "kafka" || port != "9092" {
				t.Errorf("%s: KAFKA_BROKERS %q: want kafka:9092", r.name, env["KAFKA_BROKERS"])
			}
		}
		if r.name == "worker" {
			u, err := url.Parse(env["MONGODB_URI"])
			if err != nil {
				t.Errorf("worker: MONGODB_URI: %v", err)
				continue
			}
			if u.Scheme != "mongodb" || u.Hostname() != "mongo" {
				t.Errorf("worker: MONGODB_URI %q: want mongodb://mongo:27017/...", env["MONGODB_URI"])
			}
			mongo := service(t, p, "mongo")
			if rs := u.Query().Get("replicaSet"); rs == "" || !slices.Contains(mongo.Command, rs) {
				t.Errorf("worker: MONGODB_URI replicaSet=%q, mongo runs %v", rs, mongo.Command)
			}
		}
		if r.name == "edge" && env["REPLY_TOPIC"] != "" && s.GetScale() > 1 {
			t.Errorf("edge: %d replicas share REPLY_TOPIC %q", s.GetScale(), env["REPLY_TOPIC"])
		}
	}
}

func TestComposeGoServicesImage(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	for _, r := range roles(t) {
		s := service(t, p, r.name)
		if s.Build == nil {
			t.Errorf("%s: not built from the Dockerfile", r.name)
			continue
		}
		if s.Build.Context != root {
			t.Errorf("%s: build context %q, want the repository root %q", r.name, s.Build.Context, root)
		}
		if df := s.Build.Dockerfile; df != "Dockerfile" && df != filepath.Join(root, "Dockerfile") {
			t.Errorf("%s: dockerfile %q, want Dockerfile", r.name, df)
		}
		want := []string{"/usr/local/bin/" + r.name}
		if cmd := append(slices.Clone(s.Entrypoint), s.Command...); !slices.Equal(cmd, want) {
			t.Errorf("%s: runs %q, want %q", r.name, cmd, want)
		}
		// distroless has neither a shell nor curl or wget: a healthcheck
		// could only fail.
		if hc := s.HealthCheck; hc != nil && !hc.Disable && len(hc.Test) > 0 && hc.Test[0] != "NONE" {
			t.Errorf("%s: healthcheck %q cannot run in the distroless image", r.name, hc.Test)
		}
	}
}

func TestComposeWorkerReplicas(t *testing.T) {
	p := loadCompose(t)
	w := service(t, p, "worker")
	if w.Deploy == nil || w.Deploy.Replicas == nil || *w.Deploy.Replicas != 2 {
		t.Errorf("worker: want deploy.replicas: 2, got deploy %+v", w.Deploy)
	}
	if partitions, err := strconv.Atoi(environment(w)["TOPIC_PARTITIONS"]); err != nil {
		t.Errorf("worker: TOPIC_PARTITIONS: %v", err)
	} else if w.GetScale() > partitions {
		t.Errorf("worker: %d replicas but %d partitions: the extra replicas would sit idle", w.GetScale(), partitions)
	}
	// Replicas cannot share a host port.
	for _, port := range w.Ports {
		if port.Published != "" {
			t.Errorf("worker: publishes host port %s, which its replicas would fight over", port.Published)
		}
	}
	if w.ContainerName != "" {
		t.Errorf("worker: container_name %q forbids more than one replica", w.ContainerName)
	}
}

func TestComposeEdgePublishes8080(t *testing.T) {
	p := loadCompose(t)
	e := service(t, p, "edge")
	found := false
	for _, port := range e.Ports {
		if port.Target == 8080 && port.Published == "8080" {
			found = true
		}
	}
	if !found {
		t.Errorf("edge: want port 8080 published as 8080, got %+v", e.Ports)
	}
}

// The edge's metrics stay inside the network, and it trusts the compose
// Hydra under the very name Hydra puts in iss.
func TestComposeEdgeAccess(t *testing.T) {
	p := loadCompose(t)
	edge := service(t, p, "edge")
	for _, port := range edge.Ports {
		if port.Target == 9095 && port.Published != "" {
			t.Errorf("edge: publishes its metrics port 9095 as %s", port.Published)
		}
	}
	hydra := service(t, p, "hydra")
	if iss, self := environment(edge)["AUTH_ISSUER"], environment(hydra)["URLS_SELF_ISSUER"]; iss == "" || iss != self {
		t.Errorf("edge AUTH_ISSUER %q, hydra URLS_SELF_ISSUER %q: they must be equal", iss, self)
	}
	if environment(hydra)["STRATEGIES_ACCESS_TOKEN"] != "jwt" {
		t.Error("hydra: STRATEGIES_ACCESS_TOKEN must be jwt: the edge verifies JWT access tokens itself")
	}
	for _, port := range hydra.Ports {
		if port.Target == 4445 && port.Published != "" {
			t.Errorf("hydra: publishes its admin API (4445) as %s", port.Published)
		}
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := loadCompose(t)
	want := map[string]map[string]string{
		"worker":  {"kafka": types.ServiceConditionHealthy, "mongo": types.ServiceConditionHealthy},
		"edge":    {"kafka": types.ServiceConditionHealthy, "hydra": types.ServiceConditionStarted},
		"grafana": {"prometheus": types.ServiceConditionHealthy},
	}
	for name, deps := range want {
		s := service(t, p, name)
		for dep, cond := range deps {
			got, ok := s.DependsOn[dep]
			if !ok || got.Condition != cond {
				t.Errorf("%s: depends_on %s: condition %q, want %q", name, dep, got.Condition, cond)
			}
		}
	}
	// A service_healthy condition on a service without a healthcheck never
	// becomes true.
	for _, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				continue
			}
			hc := service(t, p, dep).HealthCheck
			if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
				t.Errorf("%s waits for %s to be healthy, but %s has no healthcheck", s.Name, dep, dep)
			}
		}
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadCompose(t)
	for name, want := range map[string]string{
		"kafka":      "kafka-broker-api-versions.sh --bootstrap-server localhost:9092",
		"mongo":      "rs.initiate(",
		"prometheus": "9090",
		"grafana":    "/api/health",
	} {
		hc := service(t, p, name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s: no healthcheck", name)
			continue
		}
		if cmd := strings.Join(hc.Test[1:], " "); !strings.Contains(cmd, want) {
			t.Errorf("%s: healthcheck %q does not contain %q", name, cmd, want)
		}
	}
	// The replica set member's host must be what clients connect to.
	mongo := service(t, p, "mongo")
	if cmd := strings.Join(mongo.HealthCheck.Test, " "); !strings.Contains(cmd, "host: 'mongo:27017'") {
		t.Errorf("mongo: the healthcheck must initiate rs0 with member host mongo:27017: %q", cmd)
	}
}

func TestComposeKafka(t *testing.T) {
	p := loadCompose(t)
	env := environment(service(t, p, "kafka"))
	for name, want := range map[string]string{
		"KAFKA_AUTO_CREATE_TOPICS_ENABLE":        "false",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
		"KAFKA_ADVERTISED_LISTENERS":             "PLAINTEXT://kafka:9092",
		"KAFKA_CONTROLLER_LISTENER_NAMES":        "CONTROLLER",
	} {
		if got := env[name]; got != want {
			t.Errorf("kafka: %s = %q, want %q", name, got, want)
		}
	}
	roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("kafka: KAFKA_PROCESS_ROLES = %q, want a combined broker,controller node", env["KAFKA_PROCESS_ROLES"])
	}
	if env["KAFKA_NODE_ID"] == "" || !strings.HasPrefix(env["KAFKA_CONTROLLER_QUORUM_VOTERS"], env["KAFKA_NODE_ID"]+"@") {
		t.Errorf("kafka: KAFKA_CONTROLLER_QUORUM_VOTERS %q does not name node %q", env["KAFKA_CONTROLLER_QUORUM_VOTERS"], env["KAFKA_NODE_ID"])
	}
	if env["CLUSTER_ID"] == "" {
		t.Error("kafka: CLUSTER_ID must be set in KRaft mode")
	}
	// The one-broker cluster cannot hold topics replicated more.
	for _, r := range []string{"worker", "edge"} {
		if rf := environment(service(t, p, r))["TOPIC_REPLICATION_FACTOR"]; rf != "" && rf != "1" {
			t.Errorf("%s: TOPIC_REPLICATION_FACTOR %s on a one-broker cluster", r, rf)
		}
	}
}

func TestComposeImagesPinned(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		if s.Build != nil {
			continue
		}
		_, tag, ok := strings.Cut(lastPathElem(s.Image), ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("%s: image %q is not pinned to a tag", s.Name, s.Image)
		}
	}
	for name, want := range map[string]string{
		"kafka":      "apache/kafka:",
		"mongo":      "mongo:8.0",
		"prometheus": "prom/prometheus:v3.",
		"grafana":    "grafana/grafana:11.",
	} {
		if img := service(t, p, name).Image; !strings.HasPrefix(img, want) {
			t.Errorf("%s: image %q, want %s...", name, img, want)
		}
	}
}

func lastPathElem(image string) string {
	return image[strings.LastIndex(image, "/")+1:]
}

func TestComposeRestartPolicies(t *testing.T) {
	p := loadCompose(t)
	for _, s := range p.Services {
		switch s.Restart {
		case types.RestartPolicyAlways, types.RestartPolicyUnlessStopped, types.RestartPolicyOnFailure:
		default:
			if !strings.HasPrefix(s.Restart, types.RestartPolicyOnFailure+":") {
				t.Errorf("%s: restart %q: want unless-stopped, always or on-failure", s.Name, s.Restart)
			}
		}
	}
}

func TestComposeVolumes(t *testing.T) {
	p := loadCompose(t)
	stateful := map[string]string{
		"kafka":      "/var/lib/kafka/data",
		"mongo":      "/data/db",
		"prometheus": "/prometheus",
		"grafana":    "/var/lib/grafana",
	}
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			switch v.Type {
			case types.VolumeTypeVolume:
				if _, ok := p.Volumes[v.Source]; !ok || v.Source == "" {
					t.Errorf("%s: volume %q at %s is not declared under volumes:", s.Name, v.Source, v.Target)
				}
				if stateful[s.Name] == v.Target {
					delete(stateful, s.Name)
				}
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount source: %v", s.Name, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s: bind mount %s should be read-only", s.Name, v.Source)
				}
			}
		}
	}
	for name, target := range stateful {
		t.Errorf("%s: no named volume at %s: its data would be lost with the container", name, target)
	}
}

// Prometheus and Grafana mount the configuration files this repository has.
func TestComposeMountsConfig(t *testing.T) {
	p := loadCompose(t)
	root := repoRoot(t)
	for name, want := range map[string]struct{ source, target string }{
		"prometheus": {"deploy/prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml"},
		"grafana":    {"deploy/grafana/provisioning", "/etc/grafana/provisioning"},
	} {
		found := false
		for _, v := range service(t, p, name).Volumes {
			if v.Source == filepath.Join(root, filepath.FromSlash(want.source)) && v.Target == want.target {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: does not mount %s at %s", name, want.source, want.target)
		}
	}
	if cmd := service(t, p, "prometheus").Command; len(cmd) > 0 && !slices.Contains(cmd, "--config.file=/etc/prometheus/prometheus.yml") {
		t.Errorf("prometheus: command %q does not read the mounted configuration", cmd)
	}
}
