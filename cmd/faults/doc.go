// Package faults holds fault tests that run the real worker and edge
// binaries as separate processes against real infrastructure (Apache Kafka
// and FerretDB on PostgreSQL from deploy/local/infra.sh), kill them, and
// stop and restart the broker and the database under load.
//
// They run only with FAULT_TESTS=1 and the endpoints set:
//
//	make test-faults
//
// Every figure they measure is printed with t.Logf ("go test -v").
package faults
