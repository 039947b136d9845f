// Package edgehttp holds what the programs and tests that drive the HTTP
// edge from outside share: a loopback-only guard, waiting for readiness,
// the bearer token, and following a listing's Link headers.
package edgehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// LoopbackOnly refuses a base URL whose host is not on this machine: load
// is only ever sent to loopback addresses.
func LoopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address: only this machine is a target", u.Hostname())
		}
	}
	return nil
}

// WaitReady polls url until it answers 200, for at most bound.
func WaitReady(ctx context.Context, c *http.Client, url string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := c.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New(url + " not ready in time")
}

// Bearer is a transport that sends every request with its token.
type Bearer string

// BearerFromFile reads a token file (the dev stack writes one).
func BearerFromFile(path string) (Bearer, error) {
	raw, err := os.ReadFile(path)
	return Bearer(strings.TrimSpace(string(raw))), err
}

func (b Bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// NextLink is the target of a response's Link rel="next" header (a path
// and query, as the edge writes it), or "" on a listing's last page.
func NextLink(h http.Header) string {
	for _, link := range strings.Split(h.Get("Link"), ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(target), "<"), ">")
		}
	}
	return ""
}

// LoadAverage is the 1, 5 and 15 minute load average on Linux, "" elsewhere:
// a busy machine explains a slow benchmark run.
func LoadAverage() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
