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
// replies, dead letters and customer events; the edge writes requests,
// administration ones included (it checks the caller's admin scope), and
// reads its own reply topics; the sales service writes queries and sales
// events (it changes no customer), reads its own reply topics, and
// follows customer events with groups of its own. Nobody else may do any
// of it (only super users).
func ServiceACLs(p Principals) []ACL {
	rw := func(user, name string, prefixed bool, ops ...string) ACL {
		return ACL{User: user, Name: name, Prefixed: prefixed, Ops: ops}
	}
	return []ACL{
		rw(p.Worker, DefaultCommandTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, DefaultQueryTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, DefaultAdminTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, DefaultSalesEventsTopic, false, "Read", "Describe", "Create"),
		rw(p.Worker, "cliente.dlq", false, "Write", "Describe", "Create"),
		rw(p.Worker, DefaultCustomerEventsTopic, false, "Write", "Describe", "Create"),
		rw(p.Worker, EdgeReplyPrefix, true, "Write", "Describe"),
		rw(p.Worker, VentasReplyPrefix, true, "Write", "Describe"),
		{User: p.Worker, Group: true, Name: "cliente-worker", Ops: []string{"Read"}},

		rw(p.Edge, DefaultCommandTopic, false, "Write", "Describe"),
		rw(p.Edge, DefaultQueryTopic, false, "Write", "Describe"),
		rw(p.Edge, DefaultAdminTopic, false, "Write", "Describe"),
		rw(p.Edge, EdgeReplyPrefix, true, "Read", "Describe", "Create"),

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

// SyncACLs makes the rules naming acls' users exactly acls: it adds the
// missing ones and deletes every other rule of those users, so that a grant
// dropped from the matrix is revoked too. The cluster's user must be allowed
// to alter the cluster (a super user). It returns how many rules it added
// and deleted.
func SyncACLs(ctx context.Context, cluster Cluster, acls []ACL) (added, deleted int, err error) {
	want := map[kafka.ACLEntry]bool{}
	users := map[string]bool{}
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
				return 0, 0, fmt.Errorf("topics: invalid ACL %s", a)
			}
			want[kafka.ACLEntry{
				ResourceType: rt, ResourceName: a.Name, ResourcePatternType: pt,
				Principal: "User:" + a.User, Host: "*", Operation: o, PermissionType: kafka.ACLPermissionTypeAllow,
			}] = true
		}
		users["User:"+a.User] = true
	}
	client := cluster.Client(10 * time.Second)
	have := map[kafka.ACLEntry]bool{}
	var stale []kafka.DeleteACLsFilter
	for user := range users {
		resp, err := client.DescribeACLs(ctx, &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{
			ResourceTypeFilter: kafka.ResourceTypeAny, ResourcePatternTypeFilter: kafka.PatternTypeAny,
			PrincipalFilter: user, Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny,
		}})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return 0, 0, fmt.Errorf("topics: describe ACLs of %s: %w", user, err)
		}
		for _, r := range resp.Resources {
			for _, d := range r.ACLs {
				e := kafka.ACLEntry{ResourceType: r.ResourceType, ResourceName: r.ResourceName, ResourcePatternType: r.PatternType,
					Principal: d.Principal, Host: d.Host, Operation: d.Operation, PermissionType: d.PermissionType}
				if want[e] {
					have[e] = true
					continue
				}
				stale = append(stale, kafka.DeleteACLsFilter{ResourceTypeFilter: e.ResourceType, ResourceNameFilter: e.ResourceName,
					ResourcePatternTypeFilter: e.ResourcePatternType, PrincipalFilter: e.Principal, HostFilter: e.Host,
					Operation: e.Operation, PermissionType: e.PermissionType})
			}
		}
	}
	if len(stale) > 0 {
		resp, err := client.DeleteACLs(ctx, &kafka.DeleteACLsRequest{Filters: stale})
		if err != nil {
			return 0, 0, fmt.Errorf("topics: delete ACLs: %w", err)
		}
		for _, r := range resp.Results {
			if r.Error != nil {
				return 0, 0, fmt.Errorf("topics: delete ACLs: %w", r.Error)
			}
			deleted += len(r.MatchingACLs)
		}
	}
	req := &kafka.CreateACLsRequest{}
	for e := range want {
		if !have[e] {
			req.ACLs = append(req.ACLs, e)
		}
	}
	if len(req.ACLs) > 0 {
		resp, err := client.CreateACLs(ctx, req)
		if err != nil {
			return 0, deleted, fmt.Errorf("topics: create ACLs: %w", err)
		}
		if err := errors.Join(resp.Errors...); err != nil {
			return 0, deleted, fmt.Errorf("topics: create ACLs: %w", err)
		}
	}
	return len(req.ACLs), deleted, nil
}
