package app

import (
	"github.com/go-jose/go-jose/v4"

	"context"
	"encoding/json"
	"github.com/jea/cliente/cmd/internal/devissuer"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/jea/cliente/cmd/internal/config"
	"github.com/jea/cliente/repository/embedded"
	kafkaembedded "github.com/jea/cliente/topics/embedded"
)

// recordingRegisterer keeps every collector registered through it, so the
// test learns each metric a process registers, including vectors that
// have no series yet (Gather would not show those).
type recordingRegisterer struct {
	prometheus.Registerer
	mu         sync.Mutex
	collectors []prometheus.Collector
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
	return r.Registerer.Register(c)
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exportedNames starts the real worker and edge (on kfake and FerretDB) on
// one registry and returns every series name they export: each metric's
// name, with _bucket, _sum and _count for histograms and summaries, and
// the `up` series Prometheus adds to every target.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	broker, err := kafkaembedded.Start(0)
	if err != nil {
		t.Fatal(err)
	}
	db, err := embedded.Start(ctx, embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	rec := &recordingRegisterer{Registerer: reg}
	m := Metrics{Registerer: rec, Gatherer: reg}
	// The edge needs an access token issuer to start: a dev one on
	// 127.0.0.1.
	key, err := devissuer.NewKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := devissuer.ServeTest(t, key)
	environ := []string{
		"KAFKA_BROKERS=" + strings.Join(broker.Addrs(), ","), "MONGODB_URI=" + db.URI(),
		"HTTP_ADDR=127.0.0.1:0", "METRICS_ADDR=127.0.0.1:0", "TOPIC_PARTITIONS=1", "REPLY_TOPIC=metricnames.replies",
		"AUTH_ISSUER=" + iss.URL(),
	}
	wcfg, err := config.Load[config.Worker](environ)
	if err != nil {
		t.Fatal(err)
	}
	ecfg, err := config.Load[config.Edge](environ)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ready := make(chan struct{}, 2)
	errs := make(chan error, 2)
	for _, run := range []func() error{
		func() error {
			return RunWorker(ctx, wcfg, zerolog.Nop(), m, Hooks{Ready: func() { ready <- struct{}{} }})
		},
		func() error {
			return RunEdge(ctx, ecfg, zerolog.Nop(), m, Hooks{Ready: func() { ready <- struct{}{} }})
		},
	} {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- run() }()
	}
	defer func() {
		cancel()
		wg.Wait()
		db.Close()
		broker.Close()
	}()
	for range 2 {
		select {
		case <-ready:
		case err := <-errs:
			t.Fatalf("a process stopped: %v", err)
		case <-time.After(2 * time.Minute):
			t.Fatal("worker and edge not ready within 2 minutes")
		}
	}

	// Types of the series gathered so far (runtime and process collectors);
	// vectors without series are typed by their Go type below.
	// The runtime and process collectors were registered by NewRegistry,
	// before the recorder: their series are all there already.
	types := map[string]dto.MetricType{}
	names := map[string]bool{"up": true}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		types[mf.GetName()] = mf.GetType()
		addSeriesNames(names, mf.GetName(), mf.GetType())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range rec.collectors {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			sub := fqName.FindStringSubmatch(d.String())
			if sub == nil {
				t.Fatalf("no name in %s", d)
			}
			name := sub[1]
			typ, ok := types[name]
			if !ok {
				switch c.(type) {
				case prometheus.Histogram, *prometheus.HistogramVec:
					typ = dto.MetricType_HISTOGRAM
				case prometheus.Summary, *prometheus.SummaryVec:
					typ = dto.MetricType_SUMMARY
				}
			}
			addSeriesNames(names, name, typ)
		}
	}
	return names
}

// addSeriesNames adds the names of the series a metric of type typ has.
func addSeriesNames(names map[string]bool, name string, typ dto.MetricType) {
	names[name] = true
	switch typ {
	case dto.MetricType_HISTOGRAM:
		names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
	case dto.MetricType_SUMMARY:
		names[name+"_sum"], names[name+"_count"] = true, true
	}
}

// grafanaVars are the Grafana variables the dashboards use, replaced by
// PromQL the parser accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// A query must parse and name only series the code exports: a renamed
// metric, or a typo, would leave a panel or an alert silently empty.
func TestDashboardsAndAlertsNameExportedMetrics(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	queries := map[string][]string{} // file -> expressions
	dashboards, err := filepath.Glob(filepath.Join(root, "deploy", "grafana", "provisioning", "dashboards", "json", "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	for _, f := range dashboards {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		queries[f] = dashboardExprs(d)
	}
	const rulesFile = "deploy/prometheus/alerts.yml"
	raw, err := os.ReadFile(filepath.Join(root, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			queries[rulesFile] = append(queries[rulesFile], r.Expr)
		}
	}

	exported := exportedNames(t)
	// Guard the collection itself: an empty or partial set would make the
	// check below meaningless.
	for _, must := range []string{"go_goroutines", "process_resident_memory_bytes", "cliente_edge_http_requests_total",
		"cliente_edge_http_request_duration_seconds_bucket", "cliente_worker_dead_letters_total", "cliente_worker_consumer_lag_messages"} {
		if !exported[must] {
			t.Fatalf("the collected names lack %s: %v", must, exported)
		}
	}

	p := parser.NewParser(parser.Options{})
	for file, exprs := range queries {
		if len(exprs) == 0 {
			t.Errorf("%s: no queries found", file)
		}
		for _, q := range exprs {
			expr, err := p.ParseExpr(grafanaVars.Replace(q))
			if err != nil {
				t.Errorf("%s: %q does not parse: %v", file, q, err)
				continue
			}
			for _, name := range seriesNames(expr) {
				if !exported[name] {
					t.Errorf("%s: %q names %s, which neither process exports", file, q, name)
				}
			}
		}
	}
}

// dashboardExprs returns the expr of every target of every panel, rows'
// nested panels included, and of every query variable.
func dashboardExprs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if e, ok := x["expr"].(string); ok {
			out = append(out, e)
		}
		if q, ok := x["query"].(map[string]any); ok {
			if e, ok := q["query"].(string); ok && x["type"] == "query" {
				out = append(out, e)
			}
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range x {
				if !yield(k) {
					return
				}
			}
		}) {
			out = append(out, dashboardExprs(x[k])...)
		}
	case []any:
		for _, e := range x {
			out = append(out, dashboardExprs(e)...)
		}
	}
	return out
}

// seriesNames returns the metric names an expression selects.
func seriesNames(expr parser.Expr) []string {
	var out []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		out = append(out, name)
		return nil
	})
	return out
}
