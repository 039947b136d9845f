package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/jea/cliente/cmd/internal/auth"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"github.com/jea/cliente/cmd/internal/edgehttp"

	"github.com/jea/cliente/topics"
)

var (
	binDir   string
	issuer   string // AUTH_ISSUER of every edge
	token    string
	brokers  string
	cluster  topics.Cluster // brokers with the KAFKA_SASL_* credentials
	mongoURI string
	infraDir string
	repoRoot string
	runID    = time.Now().UnixNano() % 1_000_000_000
)

func TestMain(m *testing.M) {
	if os.Getenv("FAULT_TESTS") != "1" {
		fmt.Println("faults: skipped (set FAULT_TESTS=1 with KAFKA_BROKERS, MONGODB_URI and INFRA_DIR; see make test-faults)")
		os.Exit(m.Run())
	}
	brokers, mongoURI, infraDir = os.Getenv("KAFKA_BROKERS"), os.Getenv("MONGODB_URI"), os.Getenv("INFRA_DIR")
	if brokers == "" || mongoURI == "" || infraDir == "" {
		fmt.Fprintln(os.Stderr, "faults: FAULT_TESTS=1 needs KAFKA_BROKERS, MONGODB_URI and INFRA_DIR")
		os.Exit(2)
	}
	var err error
	if cluster, err = topics.ClusterFromEnv(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	wd, _ := os.Getwd()
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	dir, err := os.MkdirTemp("", "cliente-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", binDir+"/", "./cmd/worker", "./cmd/edge")
	build.Dir, build.Stdout, build.Stderr = repoRoot, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "faults: build:", err)
		os.Exit(1)
	}
	var stopIssuer func()
	issuer, token, stopIssuer, err = startIssuer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: issuer:", err)
		os.Exit(1)
	}
	code := m.Run()
	stopIssuer()
	os.RemoveAll(binDir)
	os.Exit(code)
}

func skipUnlessEnabled(t *testing.T) {
	if os.Getenv("FAULT_TESTS") != "1" {
		t.Skip("fault tests need FAULT_TESTS=1 and real infrastructure (make test-faults)")
	}
}

// scenario names everything one test uses, so tests never share state.
type scenario struct {
	name string
	env  []string
}

func newScenario(t *testing.T, name string, extra ...string) *scenario {
	id := fmt.Sprintf("%s-%d", name, runID)
	return &scenario{name: id, env: append([]string{
		"KAFKA_BROKERS=" + brokers,
		"MONGODB_URI=" + mongoURI,
		"MONGODB_DATABASE=faults_" + strings.ReplaceAll(id, "-", "_"),
		"TOPIC_COMMANDS=faults." + id + ".comandos",
		"TOPIC_QUERIES=faults." + id + ".consultas",
		"TOPIC_ADMIN=faults." + id + ".admin",
		"TOPIC_DEAD_LETTER=faults." + id + ".dlq",
		"TOPIC_SALES_EVENTS=faults." + id + ".ventas",
		"TOPIC_CUSTOMER_EVENTS=faults." + id + ".eventos",
		"TOPIC_PARTITIONS=6",
		"WORKER_GROUP=faults-" + id,
		"REPLY_TOPIC=faults." + id + ".respuestas",
		"LOG_LEVEL=info",
		"SHUTDOWN_TIMEOUT=10s",
		"AUTH_ISSUER=" + issuer,
		"METRICS_ADDR=127.0.0.1:0",
		"PATH=" + os.Getenv("PATH"),
		// The processes authenticate as the tests do.
		"KAFKA_SASL_MECHANISM=" + os.Getenv("KAFKA_SASL_MECHANISM"),
		"KAFKA_SASL_USERNAME=" + os.Getenv("KAFKA_SASL_USERNAME"),
		"KAFKA_SASL_PASSWORD=" + os.Getenv("KAFKA_SASL_PASSWORD"),
	}, extra...)}
}

// envValue returns the value of name in the scenario's environment.
func (s *scenario) envValue(name string) string {
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// proc is one running binary.
type proc struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	addr    string
	exited  chan struct{} // closed when the process has exited
	exitErr error         // cmd.Wait's result, set before exited closes
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs binary ("worker" or "edge") with the scenario's environment
// and waits until its /readyz answers 200.
func (s *scenario) start(t *testing.T, binary, label string, extra ...string) *proc {
	t.Helper()
	p, err := s.launch(t, binary, label, extra...)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	return p
}

// launch is start for use off the test goroutine: it reports instead of
// failing the test.
func (s *scenario) launch(t *testing.T, binary, label string, extra ...string) (*proc, error) {
	addr := freeAddr(t)
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("cliente-faults-%s-%s.log", s.name, label))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir, binary))
	cmd.Env = append(append(append([]string{}, s.env...), extra...), "HTTP_ADDR="+addr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{t: t, name: label, cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() { p.exitErr = cmd.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.exited // the process has written its last line
		if t.Failed() {
			if raw, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- last log lines of %s (full log kept in %s):\n%s", label, logPath, tail(raw, 30))
			}
			return
		}
		os.Remove(logPath)
	})
	return p, waitHTTP(p, "/readyz", 2*time.Minute)
}

func tail(raw []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitHTTP(p *proc, path string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before ready: %v", p.exitErr)
		default:
		}
		resp, err := http.Get("http://" + p.addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", path, bound)
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		p.cmd.Process.Signal(sig)
	}
}

// kill9 kills the process the hard way and waits for it to be gone.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s survived SIGKILL", p.name)
	}
}

// infraStop stops one infrastructure process (kafka or ferretdb) by its
// pid file and waits until it has exited.
func infraStop(t *testing.T, part string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(infraDir, "run", part+".pid"))
	if err != nil {
		t.Fatalf("%s pid file: %v", part, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	syscall.Kill(pid, syscall.SIGKILL)
}

// infraUp starts what is down and waits for real readiness.
func infraUp(t *testing.T) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(repoRoot, "deploy", "local", "infra.sh"), "up")
	cmd.Env = append(os.Environ(), "INFRA_DIR="+infraDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("infra up: %v\n%s", err, out)
	}
}

// outcome is the final answer to one logical request.
type outcome struct {
	status   int
	attempts int
	body     []byte
	version  int64 // from the answer's ETag, 0 without one
}

var httpClient = &http.Client{Timeout: 15 * time.Second, Transport: withToken{}}

// withToken authenticates every request to an edge with the token of the
// test's own issuer (every scope).
type withToken struct{}

func (withToken) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultTransport.RoundTrip(r)
}

// startIssuer serves an OpenID issuer on 127.0.0.1 for the edges the tests
// run, and mints the token they call them with.
func startIssuer() (url, tok string, stop func(), err error) {
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	iss := devissuer.New("http://"+ln.Addr().String(), key)
	srv := &http.Server{Handler: iss.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	tok, err = iss.Mint(devissuer.Claims{Subject: "faults", ClientID: "faults", Audience: "cliente", Scopes: auth.AllScopes(), TTL: 24 * time.Hour})
	if err != nil {
		srv.Close()
		return "", "", nil, err
	}
	return iss.URL(), tok, func() { srv.Close() }, nil
}

// createRetrying POSTs body with an idempotency key and retries on network
// errors, 503 and 504 (the outcome is open, the key makes a retry safe) until a
// final answer or the bound. statuses counts every answer seen.
func createRetrying(ctx context.Context, base string, body map[string]any, key string, statuses *statusCounts) outcome {
	return createRetryingN(ctx, base, body, key, statuses, 0)
}

// createRetryingN is createRetrying with at most maxAttempts attempts
// (0 for no limit but ctx).
func createRetryingN(ctx context.Context, base string, body map[string]any, key string, statuses *statusCounts, maxAttempts int) outcome {
	return sendRetrying(ctx, "POST", base+"/cliente", body, key, statuses, maxAttempts)
}

// sendRetrying sends one request (body nil for none) with an idempotency
// key, retrying on transport errors, 503 and 504 until a final answer, ctx
// ends (status -1) or maxAttempts (status 0; 0 for no limit but ctx).
func sendRetrying(ctx context.Context, method, target string, body map[string]any, key string, statuses *statusCounts, maxAttempts int) outcome {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for attempt := 1; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(raw))
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Idempotency-Key", key)
		resp, err := httpClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses.add(resp.StatusCode)
			if resp.StatusCode != 503 && resp.StatusCode != 504 {
				v, _ := strconv.ParseInt(strings.Trim(resp.Header.Get("ETag"), `"`), 10, 64)
				return outcome{status: resp.StatusCode, attempts: attempt, body: b, version: v}
			}
		} else {
			statuses.add(0)
		}
		if attempt == maxAttempts {
			return outcome{status: 0, attempts: attempt}
		}
		select {
		case <-ctx.Done():
			return outcome{status: -1, attempts: attempt}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type statusCounts struct {
	mu sync.Mutex
	m  map[int]int
}

func (s *statusCounts) add(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]int{}
	}
	s.m[code]++
}

func (s *statusCounts) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprint(s.m)
}

func (s *statusCounts) get(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[code]
}

type cliente struct {
	ID  int64  `json:"id"`
	DNI string `json:"dni"`
}

// listAll reads every customer through the edge, retrying while it is
// unavailable.
func listAll(t *testing.T, base string) []cliente {
	t.Helper()
	list, err := getAllPages[cliente](context.Background(), base, "/cliente", 90*time.Second)
	if err != nil {
		t.Fatalf("cannot list customers: %v", err)
	}
	return list
}

// getAllPages reads every page of the listing at path, following its Link
// rel="next" headers with the largest pages; each page is retried within
// bound while the edge answers 503 or 504.
func getAllPages[T any](ctx context.Context, base, path string, bound time.Duration) ([]T, error) {
	all := []T{}
	next := path + "?limite=1000"
	for next != "" {
		var page []T
		link, err := getPage(ctx, base, next, &page, bound)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		next = link
	}
	return all, nil
}

// getPage reads path into out and returns the next page's path, if any.
func getPage(ctx context.Context, base, path string, out any, bound time.Duration) (next string, err error) {
	deadline := time.Now().Add(bound)
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		resp, err := httpClient.Do(req)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
				return edgehttp.NextLink(resp.Header), json.Unmarshal(raw, out)
			case 503, 504:
				err = fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			default:
				return "", fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, raw)
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dniOf(scenario string, i int) string {
	return fmt.Sprintf("%08d", (int(runID%9_000)*10_000+i)%100_000_000)
}

func bodyFor(sc *scenario, i int) map[string]any {
	return map[string]any{"dni": dniOf(sc.name, i), "nombre": "Fault", "email": fmt.Sprintf("f%d.%s@example.pe", i, sc.name),
		"direccion": direccionesFault[i%len(direccionesFault)], "telefono": telefonosFault[i%len(telefonosFault)]}
}

// load sends n creates from workers goroutines, each retried to a final
// answer; after each final 2xx it calls onAck with the running ack count.
func load(ctx context.Context, sc *scenario, base string, n, workers int, statuses *statusCounts, onAck func(acked int64)) []outcome {
	outcomes := make([]outcome, n)
	next := atomic.Int64{}
	acked := atomic.Int64{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				outcomes[i] = createRetrying(ctx, base, bodyFor(sc, i), fmt.Sprintf("%s-%d", sc.name, i), statuses)
				if outcomes[i].status/100 == 2 && onAck != nil {
					onAck(acked.Add(1))
				}
			}
		}()
	}
	wg.Wait()
	return outcomes
}

// loadWithDisruption is load that, once after creates are acknowledged,
// runs disrupt once on its own goroutine while the load goes on. It returns
// when both are done, with disrupt's error.
func loadWithDisruption(ctx context.Context, sc *scenario, base string, n int, after int64, statuses *statusCounts, disrupt func() error) ([]outcome, error) {
	var once sync.Once
	var started atomic.Bool
	result := make(chan error, 1)
	outcomes := load(ctx, sc, base, n, 8, statuses, func(acked int64) {
		if acked >= after {
			once.Do(func() { started.Store(true); go func() { result <- disrupt() }() })
		}
	})
	if !started.Load() {
		return outcomes, fmt.Errorf("the disruption never ran: fewer than %d creates acknowledged", after)
	}
	return outcomes, <-result
}

// verify checks that every acknowledged create exists exactly once and that
// no dni appears twice, and returns the figures for the report.
func verify(t *testing.T, sc *scenario, base string, outcomes []outcome) (acked, present, dups int) {
	t.Helper()
	list := listAll(t, base)
	byDNI := map[string]int{}
	for _, c := range list {
		byDNI[c.DNI]++
	}
	for _, n := range byDNI {
		if n > 1 {
			dups += n - 1
		}
	}
	for i, o := range outcomes {
		if o.status/100 != 2 {
			if o.status != -1 {
				t.Errorf("request %d ended with status %d: %s", i, o.status, o.body)
			}
			continue
		}
		acked++
		if byDNI[dniOf(sc.name, i)] != 1 {
			t.Errorf("acknowledged create %d (dni %s) present %d times", i, dniOf(sc.name, i), byDNI[dniOf(sc.name, i)])
		}
	}
	if dups > 0 {
		t.Errorf("%d duplicate dni values", dups)
	}
	return acked, len(list), dups
}
