package topics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// Principals are the SCRAM user names of the services that talk to the
// customer service over Kafka.
type Principals struct {
	Worker, Edge, Ventas string
}

// Reply topic prefixes: each edge instance creates cliente.respuestas.<host>,
// each sales-service instance ventas.respuestas.<host>; the worker answers
// on whichever a request names.
const (
	EdgeReplyPrefix   = "cliente.respuestas."
	VentasReplyPrefix = "ventas.respuestas."
	// VentasGroupPrefix is what the sales service's consumer groups start
	// with (for following cliente.eventos).
	VentasGroupPrefix = "ventas."
)

// ACL allows one user some operations on a topic or group, named exactly
// or by prefix.
type ACL struct {
	User     string
	Group    bool // a consumer group; else a topic
	Name     string
	Prefixed bool
	Ops      []string // Read, Write, Create, Describe
}

func (a ACL) String() string {
	kind, pat := "topic", "literal"
	if a.Group {
		kind = "group"
	}
	if a.Prefixed {
		pat = "prefixed"
	}
	return fmt.Sprintf("User:%s %v on %s %s (%s)", a.User, a.Ops, kind, a.Name, pat)
}

// ServiceACLs is the least-privilege matrix of the default topic names:
// the worker reads requests and sales events as its group and writes
// replies, dead letters and customer events; the edge writes requests and
// reads its own reply topics; the sales service writes requests and sales
// events, reads its own reply topics, and follows customer events with
// groups of its own. Nobody else may do any of it (only super users).
func ServiceACLs(p Principals) []ACL {
	rw := func(user, name string, prefixed bool, ops ...string) ACL {
		return ACL{User: user, Name: name, Prefixed: prefixed, Ops: ops}
	}
	return []ACL{
		rw(p.Worker, DefaultCommandTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, DefaultQueryTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, DefaultSalesEventsTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, "cliente.dlq", false, "Write", "Describe", "Create"),
		rw(p.Worker, DefaultCustomerEventsTopic, false, "Write", "Describe", "Create"),
		rw(p.Worker, EdgeReplyPrefix, true, "Write", "Describe"),
		rw(p.Worker, VentasReplyPrefix, true, "Write", "Describe"),
		{User: p.Worker, Group: true, Name: "cliente-worker", Ops: []string{"Read"}},

		rw(p.Edge, DefaultCommandTopic, false, "Write", "Describe"),
		rw(p.Edge, DefaultQueryTopic, false, "Write", "Describe"),
		rw(p.Edge, EdgeReplyPrefix, true, "Read", "Describe", "Create"),

		rw(p.Ventas, DefaultCommandTopic, false, "Write", "Describe"),
		rw(p.Ventas, DefaultQueryTopic, false, "Write", "Describe"),
		rw(p.Ventas, DefaultSalesEventsTopic, false, "Write", "Describe"),
		rw(p.Ventas, VentasReplyPrefix, true, "Read", "Describe", "Create"),
		rw(p.Ventas, DefaultCustomerEventsTopic, false, "Read", "Describe"),
		{User: p.Ventas, Group: true, Name: VentasGroupPrefix, Prefixed: true, Ops: []string{"Read"}},
	}
}

var aclOps = map[string]kafka.ACLOperationType{
	"Read":     kafka.ACLOperationTypeRead,
	"Write":    kafka.ACLOperationTypeWrite,
	"Create":   kafka.ACLOperationTypeCreate,
	"Describe": kafka.ACLOperationTypeDescribe,
}

// CreateACLs adds the ACLs (ones already there are left as they are); the
// cluster's user must be allowed to alter the cluster (a super user).
func CreateACLs(ctx context.Context, cluster Cluster, acls []ACL) error {
	req := &kafka.CreateACLsRequest{}
	for _, a := range acls {
		rt, pt := kafka.ResourceTypeTopic, kafka.PatternTypeLiteral
		if a.Group {
			rt = kafka.ResourceTypeGroup
		}
		if a.Prefixed {
			pt = kafka.PatternTypePrefixed
		}
		for _, op := range a.Ops {
			o, ok := aclOps[op]
			if !ok || a.User == "" || a.Name == "" {
				return fmt.Errorf("topics: invalid ACL %s", a)
			}
			req.ACLs = append(req.ACLs, kafka.ACLEntry{
				ResourceType: rt, ResourceName: a.Name, ResourcePatternType: pt,
				Principal: "User:" + a.User, Host: "*", Operation: o, PermissionType: kafka.ACLPermissionTypeAllow,
			})
		}
	}
	resp, err := cluster.Client(10*time.Second).CreateACLs(ctx, req)
	if err != nil {
		return fmt.Errorf("topics: create ACLs: %w", err)
	}
	return errors.Join(resp.Errors...)
}
