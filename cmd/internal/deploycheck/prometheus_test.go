package deploycheck_test

import (
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// promConfig is the part of a Prometheus configuration the tests read.
type promConfig struct {
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type scrapeConfig struct {
	JobName       string `yaml:"job_name"`
	MetricsPath   string `yaml:"metrics_path"`
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
	DNSSDConfigs []struct {
		Names []string `yaml:"names"`
		Type  string   `yaml:"type"`
		Port  int      `yaml:"port"`
	} `yaml:"dns_sd_configs"`
	KubernetesSDConfigs []struct {
		Role       string `yaml:"role"`
		Namespaces struct {
			Names []string `yaml:"names"`
		} `yaml:"namespaces"`
	} `yaml:"kubernetes_sd_configs"`
	RelabelConfigs []relabelConfig `yaml:"relabel_configs"`
}

func loadPromConfig(t *testing.T, rel string) promConfig {
	t.Helper()
	docs := yamlDocs(t, rel, readFile(t, rel))
	if len(docs) != 1 {
		t.Fatalf("%s: want one YAML document, got %d", rel, len(docs))
	}
	var cfg promConfig
	if err := docs[0].Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(cfg.ScrapeConfigs) == 0 {
		t.Fatalf("%s: no scrape_configs", rel)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "" || jobs[sc.JobName] {
			t.Errorf("%s: job_name %q is empty or repeated", rel, sc.JobName)
		}
		jobs[sc.JobName] = true
	}
	return cfg
}

// The compose Prometheus scrapes every worker replica on 9091 and the edge on
// its internal 9095, at the default /metrics path.
func TestPrometheusComposeTargets(t *testing.T) {
	const rel = "deploy/prometheus/prometheus.yml"
	cfg := loadPromConfig(t, rel)
	for _, r := range roles(t) {
		hostPort := net.JoinHostPort(r.name, strconv.Itoa(r.metricsPort))
		found := false
		for _, sc := range cfg.ScrapeConfigs {
			if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
				continue
			}
			for _, st := range sc.StaticConfigs {
				if slices.Contains(st.Targets, hostPort) {
					found = true
				}
			}
			for _, dns := range sc.DNSSDConfigs {
				// An A lookup of a compose service name returns every
				// replica; SRV records do not exist there.
				if slices.Contains(dns.Names, r.name) && dns.Port == r.metricsPort && (dns.Type == "" || dns.Type == "A") {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s does not scrape %s (static target or dns_sd A record on port %d)", rel, hostPort, r.metricsPort)
		}
	}
	// The worker has replicas: a static target would scrape only the one
	// the name happens to resolve to.
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, "worker:9091") {
				t.Errorf("%s: job %s scrapes worker:9091 statically: with 2 replicas use dns_sd_configs (type A)", rel, sc.JobName)
			}
		}
	}
}

// Every pod template in deploy/k8s, run through the scrape job's relabeling
// as Prometheus would discover it, is kept and scraped at /metrics on its
// metrics port: the worker's HTTP_ADDR port, the edge's METRICS_ADDR port.
func TestPrometheusKubernetesScrape(t *testing.T) {
	const rel = k8sDir + "/" + scrapeFile
	cfg := loadPromConfig(t, rel)
	var job *scrapeConfig
	for i, sc := range cfg.ScrapeConfigs {
		for _, sd := range sc.KubernetesSDConfigs {
			if sd.Role == "pod" {
				job = &cfg.ScrapeConfigs[i]
			}
			if len(sd.Namespaces.Names) > 0 && !slices.Contains(sd.Namespaces.Names, namespace) {
				t.Errorf("%s: job %s does not watch namespace %s", rel, sc.JobName, namespace)
			}
		}
	}
	if job == nil {
		t.Fatalf("%s: no job with kubernetes_sd_configs role pod", rel)
	}
	sources := map[string]bool{}
	for _, rc := range job.RelabelConfigs {
		for _, s := range rc.SourceLabels {
			sources[s] = true
		}
	}
	for _, a := range []string{"scrape", "port", "path"} {
		if l := "__meta_kubernetes_pod_annotation_prometheus_io_" + a; !sources[l] {
			t.Errorf("%s: no relabeling on %s", rel, l)
		}
	}

	objs := loadK8s(t)
	for _, r := range roles(t) {
		o := find(t, objs, "Deployment", "cliente-"+r.name)
		var d deployment
		o.decode(t, &d)
		tmpl := d.Spec.Template
		for _, c := range tmpl.Spec.Containers {
			for _, p := range c.Ports {
				// What kubernetes_sd_configs role pod yields for this port.
				labels := map[string]string{
					"__address__":                                 net.JoinHostPort("10.1.2.3", strconv.Itoa(p.ContainerPort)),
					"__metrics_path__":                            "/metrics",
					"__scheme__":                                  "http",
					"job":                                         job.JobName,
					"__meta_kubernetes_namespace":                 namespace,
					"__meta_kubernetes_pod_name":                  o.Metadata.Name + "-5d8f7c9b6-x2x4q",
					"__meta_kubernetes_pod_ip":                    "10.1.2.3",
					"__meta_kubernetes_pod_phase":                 "Running",
					"__meta_kubernetes_pod_ready":                 "true",
					"__meta_kubernetes_pod_container_name":        c.Name,
					"__meta_kubernetes_pod_container_port_name":   p.Name,
					"__meta_kubernetes_pod_container_port_number": strconv.Itoa(p.ContainerPort),
				}
				for k, v := range stringMap(tmpl.Metadata.Labels) {
					labels["__meta_kubernetes_pod_label_"+sanitizeLabel(k)] = v
					labels["__meta_kubernetes_pod_labelpresent_"+sanitizeLabel(k)] = "true"
				}
				for k, v := range stringMap(tmpl.Metadata.Annotations) {
					labels["__meta_kubernetes_pod_annotation_"+sanitizeLabel(k)] = v
					labels["__meta_kubernetes_pod_annotationpresent_"+sanitizeLabel(k)] = "true"
				}
				out, keep, err := relabel(labels, job.RelabelConfigs)
				if err != nil {
					t.Fatalf("%s: %v", rel, err)
				}
				if !keep {
					t.Errorf("%s: drops %s pod port %d", rel, r.name, p.ContainerPort)
					continue
				}
				if want := "10.1.2.3:" + strconv.Itoa(r.metricsPort); out["__address__"] != want {
					t.Errorf("%s: scrapes %s at %s, want %s", rel, r.name, out["__address__"], want)
				}
				if out["__metrics_path__"] != "/metrics" {
					t.Errorf("%s: scrapes %s at path %q, want /metrics", rel, r.name, out["__metrics_path__"])
				}
			}
		}
	}

	// And a pod that does not ask to be scraped is dropped.
	_, keep, err := relabel(map[string]string{
		"__address__":                 "10.1.2.4:9092",
		"__metrics_path__":            "/metrics",
		"__meta_kubernetes_namespace": namespace,
		"__meta_kubernetes_pod_phase": "Running",
	}, job.RelabelConfigs)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if keep {
		t.Errorf("%s: keeps a pod without the prometheus.io/scrape annotation", rel)
	}
}

// relabelConfig and relabel implement the subset of Prometheus relabeling
// (https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config)
// that scrape configurations use, with Prometheus' defaults.
type relabelConfig struct {
	SourceLabels []string `yaml:"source_labels"`
	Separator    *string  `yaml:"separator"`
	Regex        *string  `yaml:"regex"`
	TargetLabel  string   `yaml:"target_label"`
	Replacement  *string  `yaml:"replacement"`
	Action       string   `yaml:"action"`
}

func relabel(in map[string]string, rcs []relabelConfig) (map[string]string, bool, error) {
	labels := make(map[string]string, len(in))
	for k, v := range in {
		labels[k] = v
	}
	for _, rc := range rcs {
		sep, regex, repl, action := ";", "(.*)", "$1", "replace"
		if rc.Separator != nil {
			sep = *rc.Separator
		}
		if rc.Regex != nil {
			regex = *rc.Regex
		}
		if rc.Replacement != nil {
			repl = *rc.Replacement
		}
		if rc.Action != "" {
			action = strings.ToLower(rc.Action)
		}
		re, err := regexp.Compile("^(?s:" + regex + ")$")
		if err != nil {
			return nil, false, err
		}
		vals := make([]string, len(rc.SourceLabels))
		for i, s := range rc.SourceLabels {
			vals[i] = labels[s]
		}
		val := strings.Join(vals, sep)
		switch action {
		case "keep":
			if !re.MatchString(val) {
				return labels, false, nil
			}
		case "drop":
			if re.MatchString(val) {
				return labels, false, nil
			}
		case "replace":
			m := re.FindStringSubmatchIndex(val)
			if m == nil {
				continue
			}
			target := string(re.ExpandString(nil, rc.TargetLabel, val, m))
			res := string(re.ExpandString(nil, repl, val, m))
			if res == "" {
				delete(labels, target)
			} else {
				labels[target] = res
			}
		case "labelmap":
			for k, v := range labels {
				if re.MatchString(k) {
					labels[re.ReplaceAllString(k, repl)] = v
				}
			}
		case "labeldrop", "labelkeep":
			for k := range labels {
				if re.MatchString(k) == (action == "labeldrop") {
					delete(labels, k)
				}
			}
		default:
			return nil, false, &unsupportedActionError{action}
		}
	}
	return labels, true, nil
}

type unsupportedActionError struct{ action string }

func (e *unsupportedActionError) Error() string {
	return "relabel action " + e.action + " is not simulated by the test"
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

func sanitizeLabel(s string) string {
	return invalidLabelChars.ReplaceAllString(s, "_")
}
