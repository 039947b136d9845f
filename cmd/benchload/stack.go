package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"github.com/jea/cliente/cmd/internal/edgehttp"
)

// target is a running stack to load: its API, a token for it, where its
// database is, and the processes whose CPU the table reports.
type target struct {
	base, token        string
	mongoURI, database string
	workerMetrics      string // the worker's /metrics URL
	procs              []proc
	stop               func()
}

// child is a process benchload started; stop ends it (SIGTERM, then
// SIGKILL after a bound).
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

func startChild(bin string, env []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(c.exited) }()
	return c, nil
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

// freeAddrs are n distinct 127.0.0.1 addresses with ports free right now:
// all are held until all are chosen, so none is handed out twice.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// withEnv returns environ with the given KEY=value pairs replacing any
// earlier value.
func withEnv(environ []string, kv ...string) []string {
	// os/exec uses the last value of a key given twice.
	return append(append([]string(nil), environ...), kv...)
}

// readEnvFile reads KEY=value lines (the credentials infra-up writes).
func readEnvFile(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && strings.Contains(line, "=") {
			out = append(out, line)
		}
	}
	return out, nil
}

func readPID(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// startInfra starts cmd/worker and cmd/edge as separate processes on the
// real infrastructure of cfg.InfraDir, each with its own Kafka user, the
// worker on a database of its own, the edge trusting an issuer served
// here.
func startInfra(ctx context.Context, cfg config, logDir string) (*target, error) {
	var infraProcs []proc
	for _, p := range []struct{ name, file string }{
		{"kafka", "run/kafka.pid"}, {"ferretdb", "run/ferretdb.pid"}, {"postgres", "postgres/data/postmaster.pid"},
	} {
		pid, err := readPID(filepath.Join(cfg.InfraDir, p.file))
		if err != nil {
			return nil, fmt.Errorf("%s of INFRA_DIR %s (make infra-up): %w", p.name, cfg.InfraDir, err)
		}
		infraProcs = append(infraProcs, proc{name: p.name, pid: pid})
	}
	workerCreds, err := readEnvFile(filepath.Join(cfg.InfraDir, "credentials/kafka-cliente-worker.env"))
	if err != nil {
		return nil, err
	}
	edgeCreds, err := readEnvFile(filepath.Join(cfg.InfraDir, "credentials/kafka-cliente-edge.env"))
	if err != nil {
		return nil, err
	}
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	iss := devissuer.New("http://"+ln.Addr().String(), key)
	issSrv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go issSrv.Serve(ln)
	token, err := iss.Mint(devissuer.Claims{Subject: "benchload", ClientID: "benchload", Audience: "cliente",
		Scopes: []string{auth.ScopeLeer, auth.ScopeEscribir}, TTL: time.Hour})
	if err != nil {
		issSrv.Close()
		return nil, err
	}
	addrs, err := freeAddrs(3)
	if err != nil {
		issSrv.Close()
		return nil, err
	}
	database := fmt.Sprintf("cliente_benchload_%d", time.Now().Unix())
	common := []string{"KAFKA_BROKERS=" + cfg.KafkaBrokers, "LOG_LEVEL=" + cfg.LogLevel, "PPROF=1"}
	worker, err := startChild(filepath.Join(cfg.BinDir, "worker"), withEnv(os.Environ(), append(append(common, workerCreds...),
		"MONGODB_URI="+cfg.MongoURI, "MONGODB_DATABASE="+database, "HTTP_ADDR="+addrs[0])...), filepath.Join(logDir, "worker.log"))
	if err != nil {
		issSrv.Close()
		return nil, err
	}
	edge, err := startChild(filepath.Join(cfg.BinDir, "edge"), withEnv(os.Environ(), append(append(common, edgeCreds...),
		"HTTP_ADDR="+addrs[1], "METRICS_ADDR="+addrs[2], "AUTH_ISSUER="+iss.URL(), "REPLY_TOPIC=cliente.respuestas.benchload")...),
		filepath.Join(logDir, "edge.log"))
	if err != nil {
		worker.stop()
		issSrv.Close()
		return nil, err
	}
	t := &target{
		base: "http://" + addrs[1], token: token, mongoURI: cfg.MongoURI, database: database,
		workerMetrics: "http://" + addrs[0] + "/metrics",
		procs:         append([]proc{{name: "edge", pid: edge.cmd.Process.Pid}, {name: "worker", pid: worker.cmd.Process.Pid}}, infraProcs...),
		stop:          func() { edge.stop(); worker.stop(); issSrv.Close() },
	}
	fmt.Fprintf(os.Stderr, "benchload: edge %s (pprof http://%s/debug/pprof/), worker http://%s (pprof /debug/pprof/), database %s, logs %s\n",
		t.base, addrs[2], addrs[0], database, logDir)
	if err := waitServing(ctx, t, "http://"+addrs[0]+"/readyz"); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// startRun starts the `make run` binary on a fresh data folder, every port
// its own.
func startRun(ctx context.Context, cfg config, logDir string) (*target, error) {
	dataDir := filepath.Join(logDir, "data")
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, "dev.log")
	dev, err := startChild(filepath.Join(cfg.BinDir, "dev"), withEnv(os.Environ(),
		"DEV_DATA_DIR="+dataDir, "HTTP_ADDR="+addrs[0], "DEV_WORKER_HTTP_ADDR="+addrs[1], "DEV_KAFKA_PORT=0",
		"METRICS_ADDR=127.0.0.1:0", "DEV_ISSUER_ADDR=127.0.0.1:0", "LOG_LEVEL="+cfg.LogLevel, "DEV_LOG_FORMAT=json", "PPROF=1",
		"KAFKA_BROKERS=", "MONGODB_URI=", "AUTH_ISSUER="), logPath)
	if err != nil {
		return nil, err
	}
	mongoURI, err := waitDevReady(ctx, dev, logPath)
	if err != nil {
		dev.stop()
		return nil, err
	}
	tok, err := edgehttp.BearerFromFile(filepath.Join(dataDir, devissuer.TokenFile))
	if err != nil {
		dev.stop()
		return nil, err
	}
	t := &target{
		base: "http://" + addrs[0], token: string(tok), mongoURI: mongoURI, database: "cliente",
		workerMetrics: "http://" + addrs[1] + "/metrics",
		procs:         []proc{{name: "dev", pid: dev.cmd.Process.Pid}},
		stop:          dev.stop,
	}
	fmt.Fprintf(os.Stderr, "benchload: dev stack %s, worker http://%s, log %s\n", t.base, addrs[1], logPath)
	if err := waitServing(ctx, t, "http://"+addrs[1]+"/readyz"); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// waitDevReady waits for the banner the dev stack prints once it serves,
// and reads the database URI from it.
func waitDevReady(ctx context.Context, dev *child, logPath string) (string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if f, err := os.Open(logPath); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "mongodb" {
					f.Close()
					return fields[1], nil
				}
			}
			f.Close()
		}
		select {
		case <-dev.exited:
			return "", fmt.Errorf("the dev stack exited (log %s)", logPath)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("the dev stack was not ready within 2 minutes (log %s)", logPath)
}

// waitServing waits for the worker's readiness, then until a lookup gets
// an answer through the whole path (the worker's group has joined): 404
// for an id nobody has.
func waitServing(ctx context.Context, t *target, workerReady string) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: edgehttp.Bearer(t.token)}
	if err := edgehttp.WaitReady(ctx, c, workerReady, 2*time.Minute); err != nil {
		return err
	}
	if err := edgehttp.WaitReady(ctx, c, t.base+"/readyz", time.Minute); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/cliente/999999999", nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return errors.New("no answer through the edge and the worker within a minute")
}
