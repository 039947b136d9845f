package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// springProject is the Maven project of the Java client, from cmd/dev (the
// test's working directory).
var springProject = filepath.Join("..", "..", "topics", "spring")

// TestSpringReplyingKafkaTemplate runs the Spring Kafka client in
// topics/spring (ReplyingKafkaTemplate with its default headers) against the
// worker of this run: its own topics, brokers and database. It needs Java 17
// and Maven, so it runs only with SPRING_INTEROP=1 (make test-infra).
func TestSpringReplyingKafkaTemplate(t *testing.T) {
	if os.Getenv("SPRING_INTEROP") != "1" {
		t.Skip("set SPRING_INTEROP=1 to build and run the Spring Kafka client (needs java and mvn)")
	}
	for _, tool := range []string{"mvn", "java"} {
		if _, err := exec.LookPath(tool); err != nil {
			// Asked for explicitly: a missing toolchain must not pass as a skip.
			t.Fatalf("SPRING_INTEROP=1 but %s is not on PATH: %v", tool, err)
		}
	}
	if os.Getenv("KAFKA_BROKERS") == "" {
		// Java's admin client rejects kfake's CreateTopics and
		// DescribeTopicPartitions answers, so the embedded broker cannot stand in.
		t.Fatal("SPRING_INTEROP=1 needs a real Kafka broker in KAFKA_BROKERS (make test-infra)")
	}
	pom, err := filepath.Abs(filepath.Join(springProject, "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}

	// The first build downloads Spring Kafka and its dependencies.
	start := time.Now()
	out, err := runBounded(10*time.Minute, "mvn", "-B", "-q", "-Dstyle.color=never",
		"-f", pom, "package", "-DskipTests")
	if err != nil {
		t.Fatalf("mvn package: %v\n%s", err, out)
	}
	t.Logf("mvn package took %s", time.Since(start).Round(100*time.Millisecond))

	jar := filepath.Join(filepath.Dir(pom), "target", "cliente-spring-interop.jar")
	dni := newDNI()
	replyTopic := fmt.Sprintf("e2e.%d.spring.%s", runID, dni)
	start = time.Now()
	// The program bounds itself at 60 s; this is the backstop.
	out, err = runBounded(90*time.Second, "java", "-jar", jar, strings.Join(brokers, ","),
		stackValue(t, "TOPIC_COMMANDS"), stackValue(t, "TOPIC_QUERIES"), replyTopic, dni)
	t.Logf("spring client (%s):\n%s", time.Since(start).Round(100*time.Millisecond), out)
	if err != nil {
		t.Fatalf("spring client failed: %v", err)
	}
	// A program that printed nothing, or skipped a check, must not pass.
	for _, want := range []string{
		"ok crear id=",
		"ok obtener id=",
		"ok obtener missing id=9000000000000 -> ClienteException not_found",
		"ok crear duplicate dni=" + dni + " -> ClienteException conflict",
		"ok obtener text-correlation id=",
		"all checks passed",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("spring client output lacks %q", want)
		}
	}
}

// runBounded runs a command from the test's directory, killing it after
// limit, and returns its combined output.
func runBounded(limit time.Duration, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// Do not wait for pipes held open by a killed process's children.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (killed after %s)", err, limit)
	}
	return out, err
}

// stackValue is a setting of the running stack (the last one wins, as when
// the stack parsed stackEnv).
func stackValue(t *testing.T, key string) string {
	t.Helper()
	value := ""
	for _, kv := range stackEnv {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			value = v
		}
	}
	if value == "" {
		t.Fatalf("%s not set in the stack's environment", key)
	}
	return value
}
