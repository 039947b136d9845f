package deploycheck_test

import (
	"go/version"
	"regexp"
	"strings"
	"testing"
)

// dockerfileInstructions joins continuation lines and drops comments.
func dockerfileInstructions(t *testing.T) []string {
	t.Helper()
	var out []string
	var cur strings.Builder
	for line := range strings.SplitSeq(string(readFile(t, "Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		if cur.Len() > 0 {
			out = append(out, cur.String())
		}
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerfileInstructions(t)
	var froms []string
	var goVersion, build string
	var copied []string
	for _, in := range ins {
		switch {
		case strings.HasPrefix(in, "ARG GO_VERSION="):
			goVersion = strings.TrimPrefix(in, "ARG GO_VERSION=")
		case strings.HasPrefix(in, "FROM "):
			froms = append(froms, in)
			copied = nil
		case strings.HasPrefix(in, "RUN ") && strings.Contains(in, "go build"):
			build = in
		case strings.HasPrefix(in, "COPY --from="):
			copied = append(copied, in)
		}
	}

	// The golang image sets GOTOOLCHAIN=local: it must be at least go.mod's
	// go version, or the build stops.
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(readFile(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	if goVersion == "" || version.Compare("go"+goVersion, "go"+string(m[1])) < 0 {
		t.Errorf("Dockerfile GO_VERSION %q is older than go.mod's go %s", goVersion, m[1])
	}
	if len(froms) < 2 || !strings.Contains(froms[0], "golang:") {
		t.Errorf("want a golang builder stage and a runtime stage, got %q", froms)
	}
	if len(froms) > 0 && !strings.HasSuffix(froms[len(froms)-1], "gcr.io/distroless/static-debian12:nonroot") {
		t.Errorf("final stage %q, want gcr.io/distroless/static-debian12:nonroot", froms[len(froms)-1])
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "./cmd/worker", "./cmd/edge"} {
		if !strings.Contains(build, want) {
			t.Errorf("go build step %q lacks %s", build, want)
		}
	}
	// Both binaries land where compose and the manifests run them.
	if len(copied) != 1 || !strings.HasSuffix(copied[0], "/usr/local/bin/") ||
		!strings.Contains(copied[0], "/worker") || !strings.Contains(copied[0], "/edge") {
		t.Errorf("final stage copies %q, want worker and edge into /usr/local/bin/", copied)
	}
	// Module download is cached separately from the sources.
	download, sources := -1, -1
	for i, in := range ins {
		if strings.HasPrefix(in, "RUN ") && strings.Contains(in, "go mod download") && download < 0 {
			download = i
		}
		if strings.HasPrefix(in, "COPY . ") && sources < 0 {
			sources = i
		}
	}
	if download < 0 || sources < 0 || download > sources {
		t.Errorf("want `go mod download` after copying go.mod/go.sum and before copying the sources")
	}
	last := ins[len(ins)-1]
	if !strings.HasPrefix(last, "CMD ") && !strings.HasPrefix(last, "ENTRYPOINT ") {
		t.Errorf("the image ends with %q, want a default CMD", last)
	}
	if !slicesContainsPrefix(ins, "USER 65532") {
		t.Error("the final stage should set a numeric non-root USER 65532")
	}
}

func slicesContainsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
