// Package deploycheck holds tests of the deployment files at the repository
// root and under deploy/: the Dockerfile, docker-compose.yml, the Prometheus
// configuration and the Kubernetes manifests in deploy/k8s.
//
// The tests check what no container engine or cluster is needed to check:
// that the files parse as what they claim to be, that every environment
// variable they set is one the binaries read (the `env` struct tags of
// config.Worker and config.Edge), that ports, probes, scrape targets and
// selectors agree with one another, and that the production rules written in
// the files' comments hold (replicas, restart policies, non-root, ...).
//
// The package has no non-test code: run it with
//
//	go test ./cmd/internal/deploycheck/
package deploycheck
