package deploycheck_test

import (
	"bytes"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	alertsFile     = "deploy/prometheus/alerts.yml"
	alertTestsFile = "deploy/prometheus/alerts_test.yml"
	dashboardsDir  = "deploy/grafana/provisioning/dashboards"
)

// The compose Prometheus loads the alert rules: prometheus.yml names them
// and compose mounts them next to it.
func TestComposePrometheusLoadsAlerts(t *testing.T) {
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/prometheus/prometheus.yml"), &cfg); err != nil {
		t.Fatal(err)
	}
	const target = "/etc/prometheus/alerts.yml"
	matched := false
	for _, rf := range cfg.RuleFiles {
		if !path.IsAbs(rf) {
			rf = path.Join("/etc/prometheus", rf)
		}
		if ok, _ := path.Match(rf, target); ok {
			matched = true
		}
	}
	if !matched {
		t.Errorf("prometheus.yml rule_files %v do not load %s", cfg.RuleFiles, target)
	}
	mounted := false
	for _, v := range service(t, loadCompose(t), "prometheus").Volumes {
		if v.Source == filepath.Join(repoRoot(t), alertsFile) && v.Target == target {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("compose prometheus does not mount %s at %s", alertsFile, target)
	}
}

// Every alert has a promtool unit test that fires it and one that keeps it
// quiet (an empty exp_alerts), so no rule goes untested.
func TestEveryAlertIsUnitTested(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readFile(t, alertsFile), &rules); err != nil {
		t.Fatal(err)
	}
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(readFile(t, alertTestsFile), &tests); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tests.RuleFiles, path.Base(alertsFile)) {
		t.Errorf("%s does not test %s (rule_files %v)", alertTestsFile, alertsFile, tests.RuleFiles)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if !fires[r.Alert] {
				t.Errorf("alert %s: no test in %s expects it to fire", r.Alert, alertTestsFile)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s: no test in %s expects it to stay quiet", r.Alert, alertTestsFile)
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no alerts", alertsFile)
	}
}

// Grafana provisions the dashboards from the mounted folder, and the
// Kubernetes ConfigMaps carry the same dashboards and rules (kustomize
// cannot read files above deploy/k8s, hence the copies).
func TestMonitoringFilesProvisioned(t *testing.T) {
	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(readFile(t, dashboardsDir+"/cliente.yml"), &prov); err != nil {
		t.Fatal(err)
	}
	// compose mounts deploy/grafana/provisioning at /etc/grafana/provisioning.
	const want = "/etc/grafana/provisioning/dashboards/json"
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path != want {
		t.Errorf("dashboard provider %+v, want one file provider reading %s", prov.Providers, want)
	}
	dashboards, err := filepath.Glob(filepath.Join(repoRoot(t), dashboardsDir, "json", "*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards in %s/json (%v)", dashboardsDir, err)
	}

	var kust struct {
		ConfigMapGenerator []struct {
			Name  string   `yaml:"name"`
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal(readFile(t, k8sDir+"/"+kustomizeFile), &kust); err != nil {
		t.Fatal(err)
	}
	generated := map[string]bool{}
	for _, g := range kust.ConfigMapGenerator {
		for _, f := range g.Files {
			generated[f] = true
		}
	}
	copies := map[string]string{alertsFile: "monitoring/alerts.yml"}
	for _, d := range dashboards {
		copies[dashboardsDir+"/json/"+filepath.Base(d)] = "monitoring/" + filepath.Base(d)
	}
	for src, dst := range copies {
		if !generated[dst] {
			t.Errorf("%s/%s: no configMapGenerator ships %s", k8sDir, kustomizeFile, dst)
			continue
		}
		if !bytes.Equal(readFile(t, src), readFile(t, k8sDir+"/"+dst)) {
			t.Errorf("%s/%s differs from %s: copy it again", k8sDir, dst, src)
		}
	}
}
